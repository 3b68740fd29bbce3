"""U+0000 is refused before it reaches a database: PostgreSQL's text and jsonb cannot store it."""

from __future__ import annotations

import pytest

from helixnet import ValidationFailed
from helixnet.core.validation import refuse_nul


@pytest.mark.parametrize(("value", "loc"), [
    ("a\x00b", ["params"]),
    ({"k\x00": 1}, ["params", "k\x00"]),
    ({"outer": {"inner": ["ok", "n\x00"]}}, ["params", "outer", "inner", 1]),
    ([{"x": ("t", "\x00")}], ["params", 0, "x", 1]),
])  # fmt: skip
def test_refuse_nul_names_where_it_is(value: object, loc: list[object]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        refuse_nul(value, ["params"])
    assert caught.value.errors[0]["loc"] == loc


def test_everything_else_passes() -> None:
    refuse_nul({"a": [1, 2.5, None, True, "text \u2028 with \x01 controls"], "b": {}}, ["params"])


def test_the_python_api_refuses_it_on_both_databases(make_hx, database: str) -> None:
    hx = make_hx(database, workers=0)
    with pytest.raises(ValidationFailed) as caught:
        hx.users.create(email="nul@example.org", password="long enough pw", fullname="a\x00b")
    assert caught.value.errors[0]["loc"] == ["fullname"]
    user = hx.users.create(email="nul@example.org", password="long enough pw")
    with pytest.raises(ValidationFailed) as caught:
        hx.jobs.submit(user, "echo", {"message": "\x00"})
    assert caught.value.errors[0]["loc"] == ["params", "message"]
    with pytest.raises(ValidationFailed):
        hx.users.update(user, {"fullname": "\x00"})
    assert hx.jobs.list(user).items == []
