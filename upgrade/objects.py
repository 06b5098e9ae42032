#!/usr/bin/python3
"""Prints statements of src/sql/ for an upgrade script, by object name.

    upgrade/objects.py rollout._tick_canary rollout.gate_tallies ...

For each name, the statement of src/sql/*.sql that creates it (CREATE
FUNCTION, PROCEDURE, TABLE, VIEW, TYPE or AGGREGATE), with CREATE FUNCTION and
CREATE VIEW turned into CREATE OR REPLACE, followed by the statements that
name the object right after it (GRANT, REVOKE, COMMENT, SELECT
pg_extension_config_dump, CREATE INDEX, CREATE TRIGGER). Paste the output
into upgrade/pg_rollout--A--B.sql; the upgrade TAP test compares the result
with a fresh install.
"""
import glob
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def statements(text):
    """Splits SQL into statements, keeping dollar-quoted bodies whole."""
    out, cur, i, quote = [], [], 0, None
    while i < len(text):
        if quote:
            j = text.find(quote, i)
            if j < 0:
                cur.append(text[i:])
                break
            cur.append(text[i:j + len(quote)])
            i = j + len(quote)
            quote = None
            continue
        m = re.compile(r"\$[A-Za-z_]*\$|--[^\n]*|'(?:[^']|'')*'|;").search(text, i)
        if not m:
            cur.append(text[i:])
            break
        cur.append(text[i:m.end()])
        i = m.end()
        tok = m.group(0)
        if tok.startswith('$'):
            quote = tok
        elif tok == ';':
            out.append(''.join(cur).strip())
            cur = []
    rest = ''.join(cur).strip()
    if rest:
        out.append(rest)
    return out


def strip_comments(stmt):
    """Drops the comment lines before a statement (not those inside it)."""
    lines = stmt.split('\n')
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith('--')):
        lines.pop(0)
    return '\n'.join(lines).strip()


def main():
    names = sys.argv[1:]
    stmts = []
    for f in sorted(glob.glob(os.path.join(ROOT, 'src', 'sql', '*.sql'))):
        stmts += statements(open(f).read())
    for name in names:
        pat = re.compile(r'^CREATE\s+(?:OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE|TABLE|VIEW|TYPE|AGGREGATE)\s+'
                         + re.escape(name) + r'\b', re.I | re.M)
        found = False
        for k, st in enumerate(stmts):
            body = strip_comments(st)
            m = pat.search(body)
            if not m or m.start() != 0:
                continue
            found = True
            kind = m.group(1).upper()
            if kind in ('FUNCTION', 'VIEW'):
                body = re.sub(r'^CREATE\s+(OR\s+REPLACE\s+)?', 'CREATE OR REPLACE ', body, count=1, flags=re.I)
            print(body.rstrip(';') + ';\n')
            for follow in stmts[k + 1:]:
                fb = strip_comments(follow)
                if re.match(r'^(GRANT|REVOKE|COMMENT|SELECT\s+pg_catalog\.pg_extension_config_dump|CREATE\s+(UNIQUE\s+)?INDEX|CREATE\s+TRIGGER)\b', fb, re.I) \
                        and name in fb:
                    print(fb.rstrip(';') + ';\n')
                else:
                    break
        if not found:
            sys.exit('no statement creates %s' % name)


if __name__ == '__main__':
    main()
