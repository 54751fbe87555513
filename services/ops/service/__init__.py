"""The operators' use cases: what each ``samad events|replay|offsets|audit`` command does."""
