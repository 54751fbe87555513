"""Routing's settings (SAMAD_ prefix): its database, the confidence threshold, the rules and the roster."""

from __future__ import annotations

from services.common.settings import ServiceSettings
from services.routing.domain.classifier import DEFAULT_THRESHOLD
from services.routing.domain.routing import MAX_DECLINES


class RoutingSettings(ServiceSettings):
    db_name: str = "samad_routing"
    # Below this confidence a case goes to triage (SAMAD_ROUTING_THRESHOLD).
    routing_threshold: float = DEFAULT_THRESHOLD
    # Another directory of rules files instead of services/routing/data/rules (SAMAD_ROUTING_RULES_DIR).
    routing_rules_dir: str | None = None
    # Declines after which a person decides (SAMAD_ROUTING_MAX_DECLINES).
    routing_max_declines: int = MAX_DECLINES
    # How long a replica may use the roster it read (SAMAD_ROUTING_ROSTER_CACHE_SECONDS): a change
    # made through another replica is seen within this time; one made through this replica at once.
    routing_roster_cache_seconds: float = 10.0
    # A roster slot claimed by a create whose entry was never written (the process died in between) is
    # taken over once its claim is this old (SAMAD_ROUTING_ROSTER_CLAIM_LEASE_SECONDS). A create in
    # flight holds its slots for well under a second.
    routing_roster_claim_lease_seconds: float = 15.0
    # How long a triage request waits for Kafka to take its decision's event before answering 503 with
    # the decision kept and its event owed (SAMAD_ROUTING_TRIAGE_PUBLISH_SECONDS).
    routing_triage_publish_seconds: float = 5.0
    # How often the re-publisher looks for owed decision events (SAMAD_ROUTING_REPUBLISH_SECONDS; 0
    # turns it off), and how long an event must have been owed before it takes it: the request that
    # stored the decision may still be publishing it (SAMAD_ROUTING_REPUBLISH_GRACE_SECONDS).
    routing_republish_seconds: float = 5.0
    routing_republish_grace_seconds: float = 15.0
    # The roster's local time (the centre's clock) for hours, feeds and live sessions.
    roster_timezone: str = "Asia/Tehran"
    # Public URL of the roster page, used in the JSON feed.
    roster_public_url: str = "http://127.0.0.1:8004/v1/roster"
