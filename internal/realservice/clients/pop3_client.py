"""An everyday POP3 client session, as Python's poplib does it: CAPA,
USER/PASS, STAT, LIST, UIDL, RETR and TOP of the first mail, QUIT. It
prints what a user would see, so that two runs can be compared.

Usage: pop3_client.py HOST PORT USER PASSWORD
"""
import poplib
import sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
p = poplib.POP3(host, port, timeout=10)
print("welcome", p.getwelcome())
print("capa", sorted(p.capa()))
print("user", p.user(user))
print("pass", p.pass_(password))
print("stat", p.stat())
print("list", p.list())
print("uidl", p.uidl())
print("retr", p.retr(1))
print("top", p.top(1, 0))
print("quit", p.quit())
