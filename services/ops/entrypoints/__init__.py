"""How operators reach the tools: the ``samad events|replay|offsets|audit`` commands."""
