"""Keys and filenames: what a client sends must never leave its folder or break a filesystem."""

from __future__ import annotations

import uuid

import pytest

from helixnet.errors import ValidationFailed
from helixnet.storage import artifact_key, sanitize_filename, validate_key
from helixnet.storage.keys import MAX_FILENAME_BYTES, MAX_FILENAME_CHARS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\System32\\cmd.exe", "cmd.exe"),
        ("/absolute/path/report.pdf", "report.pdf"),
        ("C:\\Users\\ada\\notes.txt", "notes.txt"),
        ("report.pdf/", "report.pdf"),
        ("a/..", "a"),
        ("..", "file"),
        ("../..", "file"),
        ("/", "file"),
        ("..\\", "file"),
    ],
)
def test_directories_and_traversal_are_dropped(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("evil.php\x00.jpg", "evil.php.jpg"),
        ("bell\x07\x1b[31mred.txt", "bell[31mred.txt"),
        ("line\nbreak\r\n.txt", "line break .txt"),
        ("\u202etxt.exe", "txt.exe"),  # right-to-left override: shows as "exe.txt" otherwise
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("del\x7f.txt", "del.txt"),
    ],
)
def test_control_and_format_characters_are_removed(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  many   spaces\there.txt  ", "many spaces here.txt"),
        (".bashrc", "bashrc"),
        ("...hidden", "hidden"),
        (". .x", "x"),
        ("name.", "name"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
    ],
)
def test_whitespace_dots_and_reserved_characters(raw: str, expected: str) -> None:
    assert sanitize_filename(raw) == expected


@pytest.mark.parametrize(
    "name",
    ["résumé 履歴書.pdf", "Ωmega_αβγ.txt", "данные-2024.csv", "emoji 🧬.fasta", "naïve café.md"],
)
def test_unicode_letters_are_kept(name: str) -> None:
    assert sanitize_filename(name) == name


def test_unicode_is_normalised_to_nfc() -> None:
    decomposed = "re\u0301sume\u0301.pdf"
    assert sanitize_filename(decomposed) == "r\u00e9sum\u00e9.pdf"


def test_long_names_are_capped_keeping_the_extension() -> None:
    result = sanitize_filename("x" * 500 + ".pdf")
    assert len(result) == MAX_FILENAME_CHARS
    assert result.endswith("x.pdf")


def test_long_names_without_extension_are_cut() -> None:
    assert sanitize_filename("y" * 500) == "y" * MAX_FILENAME_CHARS


def test_an_absurd_extension_is_not_kept() -> None:
    result = sanitize_filename("a." + "z" * 300)
    assert len(result) == MAX_FILENAME_CHARS
    assert result.startswith("a.zzz")


def test_long_multibyte_names_fit_a_local_filesystem() -> None:
    result = sanitize_filename("字" * 300 + ".txt")
    assert result.endswith("字.txt")
    assert len(result.encode("utf-8")) <= MAX_FILENAME_BYTES
    assert len(result) <= MAX_FILENAME_CHARS


@pytest.mark.parametrize("raw", ["", "   ", "\x00\x01\x02", "...", "\t\n", "/..//./"])
def test_never_empty(raw: str) -> None:
    assert sanitize_filename(raw) == "file"


@pytest.mark.parametrize(
    "raw",
    ["../../etc/passwd", "x" * 500 + ".pdf", "  a  b  ", "字" * 300 + ".txt", ".env", "a<b>.txt", "é\u0301"],
)
def test_sanitizing_is_idempotent_and_yields_one_valid_segment(raw: str) -> None:
    once = sanitize_filename(raw)
    assert sanitize_filename(once) == once
    assert "/" not in once and "\\" not in once
    assert validate_key(once) == once


def test_artifact_key_layout() -> None:
    user_id, artifact_id = str(uuid.uuid4()), uuid.uuid4().hex
    key = artifact_key(user_id, artifact_id, "../../secret report.pdf")
    assert key == f"users/{user_id}/artifacts/{artifact_id}/secret report.pdf"
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "bad_id",
    ["", "..", "../x", "a/b", "a\\b", "a b", "é", "a.b", "x\x00", "x" * 129, None],
)
@pytest.mark.parametrize("field", ["user_id", "artifact_id"])
def test_artifact_key_rejects_ids_that_are_not_plain(field: str, bad_id: str) -> None:
    ids = {"user_id": "u-1", "artifact_id": "a_1"}
    ids[field] = bad_id
    with pytest.raises(ValidationFailed) as caught:
        artifact_key(ids["user_id"], ids["artifact_id"], "f.txt")
    assert caught.value.errors[0]["loc"] == [field]


@pytest.mark.parametrize(
    "key",
    ["", "/abs", "a\\b", "..", "../a", "a/../b", "a/..", "./a", "a//b", "a/", "a\x00b", "a\nb", None],
)
def test_validate_key_rejects(key: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_key(key)
    assert caught.value.errors[0]["loc"] == ["key"]


@pytest.mark.parametrize("key", ["a", "a/b/c.txt", "users/u/artifacts/a/résumé 1.pdf", "a/.hidden", "a/..b"])
def test_validate_key_accepts(key: str) -> None:
    assert validate_key(key) == key
