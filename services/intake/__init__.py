"""Intake: where every call to line 111 and every citizen case enters SAMAD-111 (operators, Open311, imports)."""
