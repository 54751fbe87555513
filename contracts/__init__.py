"""SAMAD-111 contracts: the shared vocabulary of every service (events, topics, agencies, Persian text).

Pure code, no I/O beyond reading the package's own data files.
"""
