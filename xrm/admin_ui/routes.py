"""Every admin UI route, as one list for ``create_app`` (no registration at import time)."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from xrm.admin_ui import record_changes, record_export, records, roles, signin, users


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
            "/admin/records/{entity}/export.csv",
            record_export.export_list,
            methods=["GET"],
            name="records_export",
        ),
        Route("/admin/records/{entity}/export.csv", record_export.export_ticked, methods=["POST"]),
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
            "/admin/records/{entity}/{record_id}/link",
            record_changes.link_record,
            methods=["POST"],
            name="record_link",
        ),
        Route(
            "/admin/records/{entity}/{record_id}/unlink",
            record_changes.unlink_record,
            methods=["POST"],
            name="record_unlink",
        ),
        Route(
            "/admin/records/{entity}/{record_id}/delete",
            record_changes.delete_record,
            methods=["POST"],
            name="record_delete",
        ),
    ]
