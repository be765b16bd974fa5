#!/usr/bin/env python3
"""Create the sample shop database used by etlcrew's SQL source examples.

Stdlib only and deterministic: the rows are the same on every run (seeded
``random.Random(7)``), although the SQLite file bytes may differ.

    python data/make_shop_db.py                 # writes data/shop.sqlite
    python data/make_shop_db.py --path /tmp/x.sqlite

The data is deliberately messy, like a real small-shop export:
  * customers.country is free text ("Deutschland", "U.K.", "france", "USA", ...)
  * orders.amount is text with mixed formats ("€12,50", "12.50 EUR", "$19.99",
    "19,99 USD", and sometimes no currency at all)
  * orders.ordered_at is ISO-ish text in a few variants
  * orders.notes is free text, often empty
  * two rows are broken on purpose: a negative amount and an unparseable date
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import tempfile
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent / "shop.sqlite"
N_ORDERS = 60

CUSTOMERS = [
    # (id, name, email, country as typed by whoever entered it)
    (1, "Hannah Lindqvist", "hannah.lindqvist@example.com", "Sweden"),
    (2, "Marcus Oyelaran", "m.oyelaran@example.com", "U.K."),
    (3, "Dolores Whitcombe", "dwhitcombe@example.net", "United Kingdom"),
    (4, "Tom Achterberg", "tom.achterberg@example.org", "NL"),
    (5, "Kenji Mori", "kenji.mori@example.com", "Deutschland"),
    (6, "Aoife Brennan", "aoife.brennan@example.com", "Ireland "),
    (7, "Rafael Duarte", "rafael.duarte@example.net", "portugal"),
    (8, "Hélène Marchetti", "helene.marchetti@example.org", "france"),
    (9, "Jide Okafor", "j.okafor@example.com", "UK"),
    (10, "Chris Novak", "chris.novak@example.net", "Österreich"),
    (11, "Jürgen Weißmüller", "j.weissmueller@example.org", "Germany"),
    (12, "Lucía Fernández Ortega", "lucia.fernandez@example.net", "España"),
    (13, "Björn Svensson", "b.svensson@example.org", "SE"),
    (14, "Amara Nwosu", "amara.nwosu@example.net", "England"),
    (15, "Hugo Lefevre", "hugo.lefevre@example.net", "France"),
    (16, "Yvonne Castellanos", "yvonne.castellanos@example.org", "USA"),
    (17, "Derek Hollis", "derek.hollis@example.com", "United States"),
    (18, "Mei Chen", "mei.chen@example.org", ""),
]

# (product, EUR price, USD price)
CATALOGUE = [
    ("Nimbus Hub", 89.00, 99.00),
    ("Nimbus Thermostat", 149.00, 159.00),
    ("Nimbus Doorbell Cam", 129.00, 139.00),
    ("Nimbus Smart Plug", 24.99, 26.99),
    ("Nimbus Cloud Plan (annual)", 49.90, 54.90),
]

NOTES = [
    "", "", "", "", "",  # most orders have no note
    "gift wrap please",
    "deliver to neighbour",
    "URGENT - need by friday",
    "leave in porch if not home",
    "pls call before delivery 07700 900123",
    "Birthday present - no invoice in the box!",
    "customer called, wants to change colour to white",
    "replacement for damaged unit",
    "ring bell twice, flat 3B",
    "  ",
]

US_COUNTRIES = {"USA", "United States"}


def fmt_amount(rng: random.Random, value: float, usd: bool) -> str:
    """Render an amount the way a dozen different checkout plugins would."""
    dot = f"{value:.2f}"
    comma = dot.replace(".", ",")
    if usd:
        return rng.choice([f"${dot}", f"${dot}", f"{comma} USD", f"{dot} USD", f"USD {dot}", dot])
    return rng.choice([f"€{comma}", f"{dot} EUR", f"{comma} €", f"EUR {dot}", f"€ {dot}", dot, comma])


def fmt_date(rng: random.Random, when: dt.datetime) -> str:
    style = rng.randrange(4)
    if style == 0:
        return when.isoformat()
    if style == 1:
        return when.strftime("%Y-%m-%d %H:%M:%S")
    if style == 2:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return when.strftime("%Y-%m-%d")


def build_rows() -> tuple[list[tuple], list[tuple]]:
    rng = random.Random(7)  # noqa: S311 - sample data, not crypto
    start = dt.datetime(2024, 10, 1, 8, 0, 0)
    orders = []
    for order_id in range(1, N_ORDERS + 1):
        cust_id, _name, _email, country = rng.choice(CUSTOMERS)
        _product, eur, usd_price = rng.choice(CATALOGUE)
        qty = rng.choice([1, 1, 1, 1, 2, 3])
        usd = country in US_COUNTRIES
        value = round((usd_price if usd else eur) * qty, 2)
        when = start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 160))
        orders.append([order_id, cust_id, fmt_date(rng, when), fmt_amount(rng, value, usd), rng.choice(NOTES)])

    # Deliberately broken rows (fixed positions so tests can find them).
    orders[40][3] = "-24.99 EUR"      # negative amount (refund booked as an order)
    orders[40][4] = "refund - booked wrong"
    orders[52][2] = "31/02/2025 ??"   # unparseable date
    orders[52][4] = "date typed by hand"

    customers = [tuple(c) for c in CUSTOMERS]
    return customers, [tuple(o) for o in orders]


SCHEMA = """
CREATE TABLE customers (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    email   TEXT,
    country TEXT
);
CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES customers(id),
    ordered_at  TEXT,
    amount      TEXT,
    notes       TEXT
);
"""


def write_db(path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    customers, orders = build_rows()
    # Build in a temporary file next to the target, then atomically replace it,
    # so a crash never leaves a half-written database behind.
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        try:
            con.executescript(SCHEMA)
            con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", customers)
            con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", orders)
            con.commit()
        finally:
            con.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; use normal file permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Create the etlcrew sample shop SQLite database.")
    ap.add_argument("--path", type=Path, default=DEFAULT_PATH, help=f"output file (default: {DEFAULT_PATH})")
    args = ap.parse_args(argv)
    write_db(args.path)
    customers, orders = build_rows()
    print(f"wrote {args.path}: {len(customers)} customers, {len(orders)} orders")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
