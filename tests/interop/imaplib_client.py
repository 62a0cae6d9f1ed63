#!/usr/bin/env python3
"""A session with Python's standard imaplib, driven by tests/interop/python-imaplib.test.ts.

Usage: imaplib_client.py HOST PORT USER PASSWORD
Prints one JSON object: {"steps": [{"step", "typ", "data"}...]} where data holds the raw
server answers (bytes decoded as latin-1, tuples as [header, literal]). The TypeScript test
asserts on it; this script only drives the client and never judges.
"""
import imaplib
import json
import sys
import time


def plain(data):
    """imaplib answers -> JSON (bytes as latin-1 strings, tuples as lists)."""
    if isinstance(data, bytes):
        return data.decode('latin-1')
    if isinstance(data, (list, tuple)):
        return [plain(x) for x in data]
    return data


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    steps = []

    def step(name, result):
        typ, data = result
        steps.append({'step': name, 'typ': typ, 'data': plain(data)})
        return typ, data

    m = imaplib.IMAP4(host, port, timeout=20)
    try:
        steps.append({'step': 'welcome', 'typ': 'OK', 'data': plain(m.welcome)})
        step('capability', m.capability())
        step('login', m.login(user, password))
        step('list', m.list())
        step('lsub', m.lsub())
        step('select', m.select('INBOX'))
        step('search unseen', m.search(None, 'UNSEEN'))
        step('search from bob', m.search(None, 'FROM', 'bob'))
        m.literal = 'Café'.encode('utf-8')
        step('search utf8 subject', m.search('UTF-8', 'SUBJECT'))
        step('uid search keyword', m.uid('SEARCH', 'KEYWORD', 'Important'))
        step('fetch headers', m.fetch('1:3', '(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])'))
        step('fetch rfc822', m.fetch('1', '(RFC822)'))
        step('fetch flags after rfc822', m.fetch('3', '(FLAGS)'))
        step('store', m.store('3', '+FLAGS', '(\\Flagged $Python)'))
        step('fetch body 3', m.fetch('3', '(BODY[TEXT])'))
        step('fetch flags 3', m.fetch('3', '(FLAGS)'))
        msg = b'From: Py <py@example.com>\r\nSubject: from imaplib\r\nMessage-ID: <py-1@example.com>\r\n\r\nhello from python\r\n'
        step('append', m.append('INBOX', '(\\Seen)', imaplib.Time2Internaldate(time.mktime((2024, 6, 5, 12, 0, 0, 0, 0, -1))), msg))
        step('noop', m.noop())
        step('search appended', m.search(None, 'HEADER', 'Message-ID', '<py-1@example.com>'))
        step('uid copy', m.uid('COPY', '1:2', 'Work'))
        step('store deleted', m.store('7', '+FLAGS.SILENT', '(\\Deleted)'))
        step('expunge', m.expunge())
        step('create', m.create('"Python.&AMk-t&AOk-"'))
        step('rename', m.rename('"Python.&AMk-t&AOk-"', 'Python.Summer'))
        step('list python', m.list('""', 'Python*'))
        step('delete', m.delete('Python.Summer'))
        step('status work', m.status('Work', '(MESSAGES UIDNEXT UNSEEN)'))
        step('close', m.close())
        step('logout', m.logout())
    except Exception as e:  # report, the test shows it with the steps so far
        steps.append({'step': 'exception', 'typ': type(e).__name__, 'data': str(e)})
        try:
            m.shutdown()
        except Exception:
            pass
    print(json.dumps({'steps': steps}))


if __name__ == '__main__':
    main()
