"""This deployment's own data, handed to the security library: its servers and its role policy.

A team edits these files (or `supplychain new-server` does) to add a server or a role; the library
(`securemcp`) holds none of it.
"""
