# The SQLite workload, run unchanged on the host and inside a sandbox (bench/sqlite.ts). Modelled
# on tensorlakeai/sandbox-sqlite-bench's benchmark.py "default" mode: WAL, synchronous NORMAL,
# 64 MB cache, seeded data; prints one JSON object {phase: seconds}.
import json, random, sqlite3, string, sys, threading, time

db = sys.argv[1]
rows = int(sys.argv[2]) if len(sys.argv) > 2 else 60000
random.seed(42)
CATS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


def word(n):
    return "".join(random.choice(string.ascii_lowercase) for _ in range(n))


def connect():
    c = sqlite3.connect(db, check_same_thread=False)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    c.execute("PRAGMA cache_size=-65536")
    return c


con = connect()
con.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, category TEXT, score REAL, created INTEGER)")
con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, amount REAL, note TEXT)")
con.commit()
times = {}


def phase(name):
    def wrap(fn):
        t0 = time.perf_counter()
        fn()
        times[name] = time.perf_counter() - t0
    return wrap


def user():
    n = word(8)
    return (n, f"{n}@{word(5)}.com", random.choice(CATS), random.random() * 1000, random.randrange(1 << 31))


seq = rows // 10


@phase("sequential inserts (autocommit)")
def _():
    for _ in range(seq):
        con.execute("INSERT INTO users (name, email, category, score, created) VALUES (?,?,?,?,?)", user())
        con.commit()


@phase("batch insert (one transaction)")
def _():
    con.executemany("INSERT INTO users (name, email, category, score, created) VALUES (?,?,?,?,?)", [user() for _ in range(rows - seq)])
    con.executemany("INSERT INTO orders (user_id, amount, note) VALUES (?,?,?)",
                    [(random.randrange(1, rows), random.random() * 500, word(12)) for _ in range(rows)])
    con.commit()
    con.execute("CREATE INDEX users_score ON users(score)")
    con.execute("CREATE INDEX orders_user ON orders(user_id)")
    con.commit()


@phase("count")
def _():
    for _ in range(50):
        con.execute("SELECT COUNT(*) FROM users").fetchone()


@phase("indexed range queries")
def _():
    for _ in range(2000):
        lo = random.random() * 990
        con.execute("SELECT id, name FROM users WHERE score BETWEEN ? AND ?", (lo, lo + 5)).fetchall()


@phase("LIKE scans")
def _():
    for _ in range(30):
        con.execute("SELECT COUNT(*) FROM users WHERE name LIKE ?", (f"%{word(2)}%",)).fetchone()


@phase("updates")
def _():
    con.executemany("UPDATE users SET score = ? WHERE id = ?", [(random.random() * 1000, random.randrange(1, rows)) for _ in range(rows // 6)])
    con.commit()


@phase("deletes")
def _():
    for _ in range(100):
        start = random.randrange(1, rows)
        con.execute("DELETE FROM users WHERE id BETWEEN ? AND ?", (start, start + 20))
    con.commit()


@phase("transaction inserts")
def _():
    for _ in range(20):
        con.execute("BEGIN")
        for _ in range(500):
            con.execute("INSERT INTO users (name, email, category, score, created) VALUES (?,?,?,?,?)", user())
        con.execute("COMMIT")


@phase("aggregates")
def _():
    for _ in range(20):
        con.execute("SELECT category, COUNT(*), AVG(score), MAX(score), SUM(created) FROM users GROUP BY category").fetchall()


@phase("join")
def _():
    for _ in range(10):
        con.execute("SELECT u.category, COUNT(o.id), SUM(o.amount) FROM users u JOIN orders o ON o.user_id = u.id WHERE u.score > ? GROUP BY u.category",
                    (random.random() * 500,)).fetchall()


@phase("concurrent readers (4 threads x 500 queries)")
def _():
    def reader(seed):
        r = random.Random(seed)
        c = connect()
        for _ in range(500):
            lo = r.random() * 990
            c.execute("SELECT COUNT(*), AVG(score) FROM users WHERE score BETWEEN ? AND ?", (lo, lo + 10)).fetchone()
        c.close()
    ts = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


con.close()
times["total"] = sum(times.values())
print(json.dumps(times))
