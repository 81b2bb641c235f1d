"""An everyday FTP client session, as Python's ftplib does it: anonymous
login, FEAT, HELP, PWD, a directory listing and the download of a file with
spaces in its name over passive data connections; it changes nothing, so
that a read-only policy lets all of it through. It prints what a user
would see, without the parts that change from run to run (data ports,
dates), so that two runs can be compared.

Usage: ftp_client.py HOST PORT FILE
"""
import ftplib
import io
import sys

host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
f = ftplib.FTP()
f.connect(host, port, timeout=10)
print("welcome", f.getwelcome())
print("login", f.login())  # anonymous: USER anonymous, PASS anonymous@
print("feat", f.sendcmd("FEAT").splitlines())
print("help", f.sendcmd("HELP").splitlines()[0])
print("syst", f.sendcmd("SYST"))
print("pwd", f.pwd())
names = []
f.retrlines("LIST", lambda line: names.append(line.split(None, 8)[-1]))
print("list", sorted(names))
print("nlst", sorted(f.nlst("pub")))
buf = io.BytesIO()
print("retr", f.retrbinary("RETR " + name, buf.write), repr(buf.getvalue()))
print("size", f.size(name))
f.cwd("pub")
print("pwd", f.pwd())
print("quit", f.quit())
