"""Every admin UI route, as one list for ``create_app`` (no registration at import time)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from xrm.admin_ui import plugins, record_changes, records, roles, signin, types, users, workflows


def routes() -> list[BaseRoute]:
    """The admin UI's routes under ``/admin``."""
    return [
        Route("/admin", signin.admin_root, methods=["GET"]),
        Route("/admin/", signin.home, methods=["GET"]),
        Route("/admin/login", signin.login_form, methods=["GET"]),
        Route("/admin/login", signin.login, methods=["POST"]),
        Route("/admin/logout", signin.logout, methods=["POST"]),
        Route("/admin/users", users.users_page, methods=["GET"]),
        Route("/admin/users", users.create_user_form, methods=["POST"]),
        Route("/admin/users/{user_id}", users.user_page, methods=["GET"]),
        Route("/admin/users/{user_id}", users.update_user_form, methods=["POST"]),
        Route("/admin/users/{user_id}/tokens", users.create_token_form, methods=["POST"]),
        Route(
            "/admin/users/{user_id}/tokens/{token_id}/revoke",
            users.revoke_token_form,
            methods=["POST"],
        ),
        Route("/admin/users/{user_id}/active", users.set_active_form, methods=["POST"]),
        Route("/admin/roles", roles.roles_page, methods=["GET"]),
        Route("/admin/roles", roles.save_role, methods=["POST"]),
        Route("/admin/roles/{name}", roles.role_page, methods=["GET"]),
        Route("/admin/workflows", workflows.workflows_page, methods=["GET"], name="workflows"),
        Route(
            "/admin/workflows/new",
            workflows.new_workflow_page,
            methods=["GET"],
            name="workflow_new",
        ),
        Route("/admin/workflows/new", workflows.create_workflow, methods=["POST"]),
        Route("/admin/workflows/{name}", workflows.workflow_page, methods=["GET"], name="workflow"),
        Route("/admin/workflows/{name}", workflows.save_workflow, methods=["POST"]),
        Route(
            "/admin/workflows/{name}/enabled",
            workflows.set_enabled,
            methods=["POST"],
            name="workflow_enabled",
        ),
        Route(
            "/admin/workflows/{name}/test",
            workflows.test_run,
            methods=["POST"],
            name="workflow_test",
        ),
        Route(
            "/admin/workflows/{name}/runs/{run_id}/retry",
            workflows.retry_run,
            methods=["POST"],
            name="workflow_retry",
        ),
        Route("/admin/types", types.types_page, methods=["GET"], name="types"),
        Route("/admin/types/new", types.new_type_page, methods=["GET"], name="type_new"),
        Route("/admin/types/new", types.save_type, methods=["POST"]),
        Route("/admin/types/{name}", types.type_page, methods=["GET"], name="type"),
        Route("/admin/types/{name}", types.save_type, methods=["POST"]),
        Route("/admin/plugins", plugins.plugins_page, methods=["GET"], name="plugins"),
        Route(
            "/admin/plugins/destinations",
            plugins.save_destination_form,
            methods=["POST"],
            name="webhook_destinations",
        ),
        Route(
            "/admin/plugins/destinations/{name}/remove",
            plugins.remove_destination_form,
            methods=["POST"],
            name="webhook_destination_remove",
        ),
        Route("/admin/records/{entity}", records.records_page, methods=["GET"], name="records"),
        Route(
            "/admin/records/{entity}/new",
            records.new_record_page,
            methods=["GET"],
            name="record_new",
        ),
        Route("/admin/records/{entity}/new", records.create_record, methods=["POST"]),
        Route(
            "/admin/records/{entity}/delete",
            record_changes.delete_records,
            methods=["POST"],
            name="records_delete",
        ),
        Route(
            "/admin/records/{entity}/{record_id}",
            records.record_page,
            methods=["GET"],
            name="record",
        ),
        Route("/admin/records/{entity}/{record_id}", records.update_record, methods=["POST"]),
        Route(
            "/admin/records/{entity}/{record_id}/restore",
            record_changes.restore_record,
            methods=["POST"],
            name="record_restore",
        ),
        Route(
            "/admin/records/{entity}/{record_id}/delete",
            record_changes.delete_record,
            methods=["POST"],
            name="record_delete",
        ),
    ]
