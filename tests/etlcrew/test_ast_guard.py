"""``ast_guard``: ``ast.parse`` from several threads while the collector runs finalizers, as CrewAI kickoffs on
batch and graph-item threads do, parses every time (CPython gh-106905 on 3.11 < 3.11.8 and 3.12 < 3.12.2)."""

from __future__ import annotations

import ast
import sys
import threading

import pytest

from etlcrew import ast_guard

SOURCE = "\n".join(f"def f{i}(a, b=1, *c, **d):\n    return [x + {i} for x in (a, b)]" for i in range(50))


class Junk:
    """Cyclic garbage with a finalizer: only a collection frees it, and that runs Python code."""

    def __del__(self) -> None:
        sum(range(50))


def parse_from_threads(threads: int = 4, each: int = 200) -> list[str]:
    errors: list[str] = []

    def work() -> None:
        for _ in range(each):
            a, b = Junk(), Junk()
            a.other, b.other = b, a
            try:
                ast.parse(SOURCE)
            except SystemError as exc:
                errors.append(str(exc))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors


@pytest.fixture
def frequent_switches():  # type: ignore[no-untyped-def]
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as possible: the race shows within a few parses
    yield
    sys.setswitchinterval(before)


def test_parses_from_threads_never_mismatch(frequent_switches, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ast, "parse", ast_guard._parse)
    ast_guard.install()
    assert parse_from_threads() == []
    assert ast.parse("x = 1").body, "a parse still returns its tree"
    with pytest.raises(SyntaxError):
        ast.parse("def (")


def test_only_affected_interpreters_are_patched() -> None:
    assert ast_guard.affected((3, 11, 7)) and ast_guard.affected((3, 12, 1))
    assert not ast_guard.affected((3, 11, 8)) and not ast_guard.affected((3, 12, 2))
    assert not ast_guard.affected((3, 13, 0))
