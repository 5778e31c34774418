"""A workflow whose action comes from a plugin that is now disabled is flagged, and its runs
fail naming the plugin (XRM_PLUGINS_DISABLED), in English and in Korean.

The workflow is built with every plugin on; then the same database is served with the
email plugin switched off: the list and the workflow's page say which action of which
plugin is disabled, the edit form still shows the action (not silently "nothing"), and a
run fails with an error that names the plugin, in the run history.
"""

from __future__ import annotations

import dataclasses
import html
import re

from starlette.testclient import TestClient
from test_record_screens import client_for
from test_signin import csrf_of
from test_workflow_builder import create, new_grievance, text_of

from xrm.entities.registry import Registry
from xrm.platform.settings import Settings

pytest_plugins = ["admin_clients"]

MAIL = {
    "name": "mail_owner",
    "title": "Mail the owner",
    "entity": "grievance",
    "on": ["create"],
    "stage": "after",
    "enabled": "1",
    "actions.0.type": "email",
    "actions.0.settings.to": "owner@example.com",
    "actions.0.settings.subject": "New grievance",
    "actions.0.settings.body": "{{ record.subject }}",
}
FLAG = "Uses the action “Send an e-mail” of the plugin email, which is disabled"


def test_a_workflow_of_a_disabled_plugin_is_flagged_and_its_runs_name_the_plugin(
    ann: TestClient, app_settings: Settings, registry: Registry
) -> None:
    assert create(ann, MAIL).status_code == 303
    assert FLAG not in text_of(ann.get("/admin/workflows").text)  # all plugins on
    off = dataclasses.replace(
        app_settings, plugins=dataclasses.replace(app_settings.plugins, disabled=("email",))
    )
    for client in client_for(off, "ann@example.com"):
        listed = client.get("/admin/workflows").text
        row = re.search(r'<tr data-workflow="mail_owner">(.*?)</tr>', listed, re.S)
        assert row and FLAG in text_of(row.group(1))
        page = client.get("/admin/workflows/mail_owner").text
        assert FLAG in text_of(page) and "data-missing-plugin" in page
        assert re.search(
            r'<option value="email" selected>Send an e-mail \(plugin email, disabled\)', page
        )

        token = csrf_of(page)
        resaved = client.post(
            "/admin/workflows/mail_owner", data={**MAIL, "version": "1", "csrf": token}
        )
        assert resaved.status_code == 400  # refused at the action, not saved without it
        error = re.search(r'id="e-actions-0-type">([^<]+)<', resaved.text)
        assert error and "The plugin email that adds this action is disabled" in error.group(1)

        refused = new_grievance(client, "Quiet", "x")
        assert refused.status_code == 400
        assert "Traceback" not in refused.text
        runs = html.unescape(text_of(client.get("/admin/workflows/mail_owner").text))
        assert "failed" in runs
        assert "comes from the plugin email, which is disabled" in runs
        assert "(deleted, or never saved)" in runs  # the grievance was rolled back with the run
        korean = client.get("/admin/workflows/mail_owner", headers={"Accept-Language": "ko"})
        said = html.unescape(text_of(korean.text))
        assert "꺼져 있는 email 플러그인의 동작 “이메일 보내기”을(를) 씁니다" in said  # the flag
        assert "꺼져 있는 email 플러그인의 것입니다(XRM_PLUGINS_DISABLED)" in said  # the run
    assert registry.current().workflows["mail_owner"].version == 1  # nothing was changed
