// A small SMSC for the notify service's tests, built on the `smpp` package (an independent SMPP 3.4
// implementation). Usage: node smsc.js SMPP_PORT CONTROL_PORT
//
// It accepts transceiver binds (system_id "samad", password "secret"), answers submit_sm with a
// message id and sends a delivery receipt per part; an HTTP control port lets the test script it:
//   GET  /state       submitted parts, receipts sent and acknowledged, enquire_links, binds
//   POST /config      {"throttle_next": N, "receipt": "delivered"|"undeliverable"|"none",
//                      "duplicate_receipts": true, "receipt_delay_ms": 50, "hold_responses": false,
//                      "receipt_mode": "after"|"immediate"|"before_response"|"before_next_response",
//                      "receipt_text": "prefix"|"empty", "drop_between_parts": N,
//                      "malformed_receipts": N, "no_message_id": false}
//     receipt_mode: "after" sends each receipt receipt_delay_ms after the submit_sm_resp; "immediate"
//     right behind it; "before_response" before it (the id is unknown to the ESME when the receipt
//     comes); "before_next_response" sends a part's receipt just before the submit_sm_resp of the
//     message's next part. receipt_text "empty" sends "text:" with nothing after it.
//     drop_between_parts: the next N concatenated messages lose the session right after the
//     submit_sm_resp of their first part. malformed_receipts: the next N receipts go with a source
//     TON of 9 (outside 0-6). A receipt not acknowledged (session lost, or an error status) is
//     sent again on the next bound session, the way SMSCs store and retry receipts.
//   POST /mo          {"from": "98912...", "to": "111", "text": "لغو"}  an SMS from a citizen
//   POST /drop        closes every session at once (the client must reconnect); an answer on its way
//                     may be lost with it
//   POST /cut         cuts every session the way drop_between_parts does: the answers already sent
//                     get out, nothing after gets in (a submit_sm then never reached the SMSC), and the
//                     connection closes 30 ms later
'use strict';

const http = require('http');
const smpp = require('smpp');

const smppPort = parseInt(process.argv[2] || '2775', 10);
const controlPort = parseInt(process.argv[3] || '2776', 10);

const state = {
  binds: 0,
  enquire_links: 0,
  submitted: [],
  throttled: 0,
  receipts_sent: 0,
  receipts_acked: 0,
  receipts_refused: 0, // answered with an error status, or generic_nack
  acked_ids: [], // message ids whose receipt was acknowledged, once per acknowledgement
  malformed_sent: 0,
  malformed_statuses: [],
  drops: 0,
  cuts: 0,
  mo_acked: 0,
};
let config = {
  throttle_next: 0,
  receipt: 'delivered',
  duplicate_receipts: false,
  receipt_delay_ms: 50,
  hold_responses: false,
  receipt_mode: 'after',
  receipt_text: 'prefix',
  drop_between_parts: 0,
  malformed_receipts: 0,
  no_message_id: false,
};
const owed = []; // receipts to send again on the next bound session
const heldForNext = new Map(); // concatenation key -> receipts waiting for the next part's response
let nextId = 1000;
const sessions = new Set();

function stamp(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) + p(d.getUTCMinutes());
}

function receiptPdu(part, malformed) {
  const stat = part.stat;
  const now = new Date();
  const text = config.receipt_text === 'empty' ? '' : part.text.slice(0, 20);
  const body = `id:${part.message_id} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} submit date:${stamp(part.at)} done date:${stamp(now)} stat:${stat} err:${stat === 'DELIVRD' ? '000' : '001'} text:${text}`;
  return {
    source_addr: part.destination,
    source_addr_ton: malformed ? 9 : 1,
    source_addr_npi: 1,
    destination_addr: part.source,
    esm_class: smpp.ESM_CLASS.MC_DELIVERY_RECEIPT,
    short_message: body,
    receipted_message_id: part.message_id,
    message_state: stat === 'DELIVRD' ? 2 : 5,
  };
}

function bound(session) {
  return session && sessions.has(session) && session.bound_ok;
}

function anySession() {
  for (const s of sessions) if (s.bound_ok) return s;
  return null;
}

function sendReceipt(session, part) {
  if (!bound(session)) session = anySession();
  if (!session) { owed.push(part); return; }
  const malformed = config.malformed_receipts > 0;
  if (malformed) { config.malformed_receipts -= 1; state.malformed_sent += 1; }
  state.receipts_sent += 1;
  let answered = false;
  session.inflight.add(part);
  const done = (ok) => {
    if (answered) return;
    answered = true;
    session.inflight.delete(part);
    if (ok) {
      state.receipts_acked += 1;
      state.acked_ids.push(part.message_id);
    } else {
      state.receipts_refused += 1;
      setTimeout(() => sendReceipt(null, part), 200); // an SMSC retries a refused receipt
    }
  };
  session.deliver_sm(receiptPdu(part, malformed), (resp) => {
    if (malformed) state.malformed_statuses.push(resp.command_status);
    done(resp.command_status === 0 && resp.command === 'deliver_sm_resp');
  });
}

function concatKey(pdu, udhHex) {
  // IEI 00, length 3: reference, total, number
  if (!udhHex || !udhHex.startsWith('0003')) return null;
  return { key: `${pdu.destination_addr}:${udhHex.slice(4, 6)}`, total: parseInt(udhHex.slice(6, 8), 16), number: parseInt(udhHex.slice(8, 10), 16) };
}

// The session is lost: the answers already sent get out, nothing after gets in.
function cut(session) {
  if (session.dropping) return;
  session.dropping = true;
  session.bound_ok = false;
  setTimeout(() => { session.gone(); session.destroy(); }, 30);
}

const server = smpp.createServer({}, (session) => {
  sessions.add(session);
  session.inflight = new Set();
  const gone = () => {
    if (!sessions.has(session)) return;
    sessions.delete(session);
    for (const part of session.inflight) owed.push(part); // never acknowledged: send it again later
    session.inflight.clear();
  };
  session.gone = gone;
  session.on('close', gone);
  session.on('error', gone);
  session.on('bind_transceiver', (pdu) => {
    if (pdu.system_id !== 'samad' || pdu.password !== 'secret') {
      session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
      session.close();
      return;
    }
    state.binds += 1;
    session.send(pdu.response({ system_id: 'test-smsc' }));
    session.bound_ok = true;
    const again = owed.splice(0, owed.length);
    for (const part of again) sendReceipt(session, part);
  });
  session.on('enquire_link', (pdu) => {
    state.enquire_links += 1;
    session.send(pdu.response());
  });
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    session.close();
  });
  session.on('submit_sm', (pdu) => {
    if (config.hold_responses) return; // the ESME never learns whether it was accepted
    if (session.dropping) return; // the connection is going: this PDU never reached the SMSC
    if (config.throttle_next > 0) {
      config.throttle_next -= 1;
      state.throttled += 1;
      session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      return;
    }
    const message = pdu.short_message || {};
    const udh = message.udh && message.udh.length ? Buffer.concat(message.udh).toString('hex') : '';
    const text = typeof message.message === 'string' ? message.message : String(message.message || '');
    const part = {
      message_id: String(nextId++),
      source: pdu.source_addr,
      destination: pdu.destination_addr,
      data_coding: pdu.data_coding,
      esm_class: pdu.esm_class,
      registered_delivery: pdu.registered_delivery,
      udh,
      text,
      at: new Date(),
      stat: config.receipt === 'undeliverable' ? 'UNDELIV' : 'DELIVRD',
    };
    state.submitted.push(part);
    const wantsReceipt = config.receipt !== 'none' && (pdu.registered_delivery & 1);
    const concat = concatKey(pdu, udh);
    const respond = () => session.send(pdu.response({ message_id: config.no_message_id ? '' : part.message_id }));
    const receipts = () => {
      sendReceipt(session, part);
      if (config.duplicate_receipts) setTimeout(() => sendReceipt(session, part), 20);
    };
    if (concat && concat.number > 1 && heldForNext.has(concat.key)) {
      const held = heldForNext.get(concat.key);
      heldForNext.delete(concat.key);
      held(); // the previous part's receipt, before this part's submit_sm_resp
    }
    if (!wantsReceipt || config.no_message_id) {
      respond();
    } else if (config.receipt_mode === 'before_response') {
      receipts();
      respond();
    } else if (config.receipt_mode === 'immediate') {
      respond();
      receipts();
    } else if (config.receipt_mode === 'before_next_response' && concat && concat.number < concat.total) {
      respond();
      heldForNext.set(concat.key, receipts);
    } else if (config.receipt_mode === 'before_next_response') {
      respond();
      receipts();
    } else {
      respond();
      setTimeout(receipts, config.receipt_delay_ms);
    }
    if (concat && concat.number === 1 && config.drop_between_parts > 0) {
      config.drop_between_parts -= 1;
      state.drops += 1;
      cut(session); // between the parts: part 1's answer gets out, nothing after it gets in
    }
  });
});

server.listen(smppPort, '127.0.0.1');

function readJson(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => { try { resolve(data ? JSON.parse(data) : {}); } catch (e) { resolve({}); } });
  });
}

http.createServer(async (req, res) => {
  const reply = (code, obj) => { res.writeHead(code, { 'content-type': 'application/json' }); res.end(JSON.stringify(obj)); };
  if (req.method === 'GET' && req.url === '/state') return reply(200, { ...state, sessions: sessions.size, config });
  if (req.method === 'POST' && req.url === '/config') { config = { ...config, ...(await readJson(req)) }; return reply(200, config); }
  if (req.method === 'POST' && req.url === '/drop') {
    for (const s of sessions) s.destroy();
    return reply(200, { dropped: true });
  }
  if (req.method === 'POST' && req.url === '/cut') {
    state.cuts += 1;
    const cutting = [...sessions].filter((s) => !s.dropping);
    for (const s of cutting) cut(s);
    return reply(200, { cut: cutting.length });
  }
  if (req.method === 'POST' && req.url === '/mo') {
    const body = await readJson(req);
    const [session] = sessions;
    if (!session) return reply(409, { error: 'no bound session' });
    session.deliver_sm({
      source_addr: body.from, source_addr_ton: 1, source_addr_npi: 1,
      destination_addr: body.to || '111', data_coding: 8, short_message: body.text,
    }, (resp) => { if (resp.command_status === 0) state.mo_acked += 1; });
    return reply(200, { sent: true });
  }
  return reply(404, { error: 'not found' });
}).listen(controlPort, '127.0.0.1', () => {
  console.log(`READY smpp=${smppPort} control=${controlPort}`);
});
