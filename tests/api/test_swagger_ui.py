"""The QA workflow in Swagger UI (/api/v1/docs) in a real headless Chromium, against a real
`helixnet serve` (issue 9): Authorize with the password flow, then "Try it out" and Execute with the
fields as the page pre-fills them. Screenshots of each step land in the test's tmp_path."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .apihelp import API

pytestmark = [
    pytest.mark.slow,
    pytest.mark.embedded_only(
        "the browser QA workflow; its API calls are the contract tests' on both stacks, and it downloads "
        "through the app's own /storage route"
    ),
]

CHROMIUM = "/usr/bin/chromium"  # Debian's package; .ci/run installs it. Never a downloaded browser.
EMAIL, PASSWORD = "swagger@example.org", "swagger password 1"


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])  # fmt: skip
        context = browser.new_context(viewport={"width": 1280, "height": 1600})
        page = context.new_page()
        page.set_default_timeout(30_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()


class Shots:
    """Numbered full-page screenshots, so a failure can be seen step by step."""

    def __init__(self, page: Any, folder: Path) -> None:
        self.page, self.folder, self.count = page, folder, 0

    def __call__(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


def _operation(page: Any, tag: str, operation_id: str) -> Any:
    """Expand one operation and press "Try it out"."""
    block = page.locator(f"#operations-{tag}-{operation_id}")
    block.locator(".opblock-summary").first.click()
    block.locator("button.try-out__btn").click()
    return block


def _execute(block: Any) -> tuple[int, Any]:
    """Press Execute and read the live response's status and JSON body as the page shows them."""
    block.locator("button.execute").click()
    row = block.locator(".live-responses-table .response").first
    row.wait_for()
    status = int(row.locator(".response-col_status").inner_text().strip())
    text = row.locator(".response-col_description pre").first.inner_text()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def _clear(block: Any) -> None:
    button = block.locator("button.btn-clear")
    if button.count():
        button.click()


def test_qa_workflow_in_swagger_ui(start_server: Callable[..., Any], page: Any, tmp_path: Path) -> None:
    server = start_server({"HELIXNET_ADMIN_EMAIL": EMAIL, "HELIXNET_ADMIN_PASSWORD": PASSWORD})
    shot = Shots(page, tmp_path)
    content, context = tmp_path / "content.txt", tmp_path / "context.txt"
    content.write_text("the cat sat on the mat\nthe dog sat on the log\n")
    context.write_text("a cat and a dog\n")

    page.goto(f"{server.base}{API}/docs")
    page.locator(".btn.authorize").first.wait_for()
    shot("docs")

    # Authorize: the OAuth2 password flow of the document, as Swagger UI performs it.
    page.locator(".btn.authorize").first.click()
    modal = page.locator(".modal-ux")
    modal.locator("#oauth_username").fill(EMAIL)
    modal.locator("#oauth_password").fill(PASSWORD)
    shot("authorize-form")
    modal.locator("button.authorize").click()
    modal.locator("button", has_text="Logout").wait_for()  # shown once the token came back
    shot("authorized")
    modal.locator("button.btn-done").click()

    status, me = _execute(_operation(page, "users", "read_me"))
    shot("users-me")
    assert status == 200 and me["email"] == EMAIL, me

    # POST /jobs/upload with two files; every other field as the page pre-fills it.
    block = _operation(page, "jobs", "upload_job")
    block.locator("tr[data-property-name='content_key'] input[type=file]").set_input_files(str(content))
    block.locator("tr[data-property-name='context_key'] input[type=file]").set_input_files(str(context))
    shot("upload-filled")
    status, job = _execute(block)
    shot("upload-executed")
    assert status == 201, job
    assert job["plugin"] == "textstats" and set(job["inputs"]) == {"content", "context"}

    block = _operation(page, "jobs", "read_job")
    block.locator("input[placeholder='job_id']").fill(job["id"])
    deadline = time.monotonic() + 60
    while True:
        status, current = _execute(block)
        assert status == 200, current
        if current["status"] in ("SUCCESS", "FAILURE", "CANCELLED"):
            break
        assert time.monotonic() < deadline, f"job still {current['status']}"
        _clear(block)
        time.sleep(0.5)
    shot("job-final")
    assert current["status"] == "SUCCESS", current["error"]
    assert current["params"]["top"] == 5 and len(current["result"]["top_terms"]) == 5
    assert any(a["filename"] == "result.json" for a in current["artifacts"])
