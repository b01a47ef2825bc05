"""Stock as a merchant handles it in the admin: a level changed by hand as a ledger movement with
its reason, never a silent overwrite; CSV import (a preview naming every bad row, nothing imported
until confirmed) and export; the low-stock filter; only their own organization's levels."""

from __future__ import annotations

import csv
import io
from html import unescape
from io import StringIO

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from import_export.tmp_storages import MediaStorage

from channels_app.models import Organization
from inventory.models import SKU, MovementReason, StockLevel, StockMovement, Warehouse
from inventory.services import StockChanged, stock_count, stock_move
from tests.inventory import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def merchant(client, settings, tmp_path):
    """Wile of Acme, with the permissions create_staff gives merchants; Globex beside."""
    settings.MEDIA_ROOT = tmp_path  # where an upload waits for its confirmation
    client.organization = Organization.objects.create(name="Acme", slug="acme")
    client.globex = Organization.objects.create(name="Globex", slug="globex")
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", "acme", stdout=StringIO())
    client.force_login(User.objects.get(username="wile"))
    return client


@pytest.fixture
def level(merchant):
    main = factories.warehouse(merchant.organization)
    return factories.level(factories.sku(merchant.organization, "A-1", on_hand=10, at=main), main)


def page(response) -> str:
    return " ".join(unescape(response.content.decode()).split())


def edit(client, level, **fields):
    data = {"seen_on_hand": level.on_hand, "set_on_hand": "", "change_by": "", "reason": "count", "note": ""}
    data.update(fields)
    return client.post(reverse("admin:inventory_stocklevel_change", args=[level.pk]), data, follow=True)


def test_a_level_set_by_hand_is_a_ledger_movement_with_its_reason_and_note(merchant, level):
    response = edit(merchant, level, set_on_hand=7, reason="damaged", note="three mugs broke in the van")

    assert response.redirect_chain[-1][0] == reverse("admin:inventory_stocklevel_changelist")
    movement = StockMovement.objects.latest("pk")
    assert (movement.quantity, movement.on_hand_after, movement.reason) == (-3, 7, MovementReason.DAMAGED)
    assert (movement.note, movement.reference) == ("three mugs broke in the van", "admin: wile")
    assert StockLevel.objects.get(pk=level.pk).on_hand == 7
    factories.assert_invariants()
    assert LogEntry.objects.get().change_message == (
        "set on hand to 7 (Damaged or lost: three mugs broke in the van)"
    )
    assert "-3 = 7 damaged admin: wile: three mugs broke in the van" in page(
        merchant.get(reverse("admin:inventory_stocklevel_change", args=[level.pk]))
    )


def test_a_level_changed_by_units_received_adds_them(merchant, level):
    edit(merchant, level, change_by=24, reason="received", note="PO 1182")

    assert StockLevel.objects.get(pk=level.pk).on_hand == 34
    assert StockMovement.objects.latest("pk").reason == MovementReason.RECEIVED


def test_a_figure_set_over_a_level_that_moved_meanwhile_is_refused_not_written(merchant, level):
    stock_move(sku_id=level.sku_id, warehouse_id=level.warehouse_id, quantity=-2, reason="fulfillment")

    body = page(edit(merchant, level, set_on_hand=12))  # the merchant saw 10

    assert "On hand changed to 8 meanwhile (see the ledger): check your figure and save again." in body
    assert StockLevel.objects.get(pk=level.pk).on_hand == 8
    assert StockMovement.objects.count() == 2  # the import and the fulfilment only
    assert 'name="seen_on_hand" value="8"' in body  # saved again, having seen 8, it goes through
    edit(merchant, StockLevel.objects.get(pk=level.pk), set_on_hand=12)
    assert StockLevel.objects.get(pk=level.pk).on_hand == 12


def test_the_service_refuses_a_count_over_a_level_that_moved_under_its_lock(level):
    stock_move(sku_id=level.sku_id, warehouse_id=level.warehouse_id, quantity=1, reason="channel")
    with pytest.raises(StockChanged):
        stock_count(
            sku_id=level.sku_id, warehouse_id=level.warehouse_id, on_hand=3, seen_on_hand=10, reason="count"
        )
    assert StockLevel.objects.get(pk=level.pk).on_hand == 11


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, "Give either the on hand figure to set, or the units to change it by."),
        ({"set_on_hand": 3, "change_by": 2}, "Give either the on hand figure to set, or the units"),
        ({"change_by": -11}, "On hand is 10: it cannot go below 0."),
        ({"set_on_hand": -1}, "Ensure this value is greater than or equal to 0."),
        ({"set_on_hand": 3, "reason": "fulfillment"}, "Select a valid choice."),  # the hub's own reason
    ],
)
def test_a_change_that_says_nothing_clear_is_refused(merchant, level, fields, error):
    assert error in page(edit(merchant, level, **fields))
    assert StockMovement.objects.count() == 1


def test_a_level_is_never_added_or_deleted_by_hand(merchant, level):
    assert merchant.get(reverse("admin:inventory_stocklevel_add")).status_code == 403
    assert merchant.get(reverse("admin:inventory_stocklevel_delete", args=[level.pk])).status_code == 403


def upload(client, text, organization=None, name="stock.csv"):
    data = {
        "resource": "0",
        "format": "0",
        "organization": (organization or client.organization).pk,
        "import_file": SimpleUploadedFile(name, text.encode(), content_type="text/csv"),
    }
    return client.post(reverse("admin:inventory_stocklevel_import"), data)


def confirm(client, preview):
    """Post the preview's confirmation form as it was rendered."""
    form = preview.context["confirm_form"]
    data = {name: form[name].value() for name in form.fields}
    return client.post(reverse("admin:inventory_stocklevel_process_import"), data, follow=True)


def test_an_import_names_every_bad_row_by_its_line_and_imports_nothing(merchant, level):
    text = "sku,warehouse,on_hand\nA-1,main,4\nB-2,main,lots\n,main,1\nA-1,main,5\nC-3,back room,2\n"

    preview = upload(merchant, text)

    body = page(preview)
    assert preview.context.get("confirm_form") is None
    rows = [(row.number + 1, row.error_dict) for row in preview.context["result"].invalid_rows]
    assert [line for line, _ in rows] == [3, 4, 5, 6]
    assert "on_hand: on_hand 'lots' is not a whole number >= 0" in body
    assert "sku: sku is empty" in body
    assert "sku: A-1 at main repeats line 2" in body
    assert "warehouse: warehouse 'back room' is not a code" in body
    assert StockLevel.objects.get(pk=level.pk).on_hand == 10
    assert StockMovement.objects.count() == 1 and not SKU.objects.filter(code="B-2").exists()


def test_an_import_is_previewed_then_confirmed_through_the_ledger(merchant, level):
    text = "sku,warehouse,on_hand,title\nA-1,main,4,\nB-2,main,0,Beta\nA-1,store,3,\nC-3,main,10,\n"

    preview = upload(merchant, text)

    body = page(preview)
    assert "A-1" in body and "store" in body
    assert StockMovement.objects.count() == 1 and not Warehouse.objects.filter(code="store").exists()
    done = page(confirm(merchant, preview))
    assert "Import finished: 3 new, 1 updated" in done
    assert StockLevel.objects.get(pk=level.pk).on_hand == 4
    movement = StockMovement.objects.get(sku__code="A-1", warehouse__code="store")
    assert (movement.reason, movement.reference) == (MovementReason.IMPORT, "stock.csv:4")
    assert movement.note == "imported in the admin by wile"
    assert SKU.objects.get(code="B-2").title == "Beta"
    assert Warehouse.objects.get(code="store").organization == merchant.organization
    factories.assert_invariants()


def test_a_file_without_the_columns_says_which_are_missing(merchant, level):
    body = page(upload(merchant, "sku,on_hand\nA-1,4\n"))

    assert (
        "line 1 lacks the column(s) warehouse (expected sku,warehouse,on_hand, and title if wanted)" in body
    )
    assert "Traceback" not in body and StockMovement.objects.count() == 1


def test_a_row_gone_bad_between_preview_and_confirmation_undoes_the_whole_import(merchant, level):
    preview = upload(merchant, "sku,warehouse,on_hand\nA-1,main,4\nB-2,main,1\n")
    stored = MediaStorage(name=preview.context["confirm_form"]["import_file_name"].value())
    stored.remove()
    stored.save(b"sku,warehouse,on_hand\nA-1,main,4\nB-2,main,one\n")  # the file as it waits, changed

    response = confirm(merchant, preview)

    assert "Nothing was imported: some rows could not be taken when confirmed." in page(response)
    assert StockLevel.objects.get(pk=level.pk).on_hand == 10 and StockMovement.objects.count() == 1


def test_an_import_cannot_reach_another_organization(merchant, level):
    factories.warehouse(merchant.globex)
    factories.sku(merchant.globex, "A-1")

    preview = upload(merchant, "sku,warehouse,on_hand\nA-1,main,4\n", organization=merchant.globex)

    assert "Select a valid choice" in page(preview)
    assert not StockLevel.objects.filter(sku__organization=merchant.globex).exists()


def test_export_lists_only_the_users_levels_quoted_for_spreadsheets_and_reads_back_in(merchant, level):
    main = Warehouse.objects.get(code="main")
    factories.sku(merchant.organization, "=SUM(A1)", on_hand=2, at=main)  # a code a supplier chose
    theirs = factories.warehouse(merchant.globex)
    factories.sku(merchant.globex, "G-1", on_hand=5, at=theirs)

    columns = {
        f"stocklevelresource_{n}": "on" for n in ("sku", "warehouse", "on_hand", "reserved", "available")
    }
    response = merchant.post(reverse("admin:inventory_stocklevel_export"), {"format": "0", **columns})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode("utf-8-sig")
    rows = sorted(csv.DictReader(io.StringIO(text)), key=lambda row: row["sku"])
    assert rows == [
        {"sku": "'=SUM(A1)", "warehouse": "main", "on_hand": "2", "reserved": "0", "available": "2"},
        {"sku": "A-1", "warehouse": "main", "on_hand": "10", "reserved": "0", "available": "10"},
    ]
    changed = text.replace(",10,0,10", ",9,0,10")  # a count, written in the exported file
    done = confirm(merchant, upload(merchant, changed))
    assert "Import finished: 0 new, 1 updated, 0 deleted and 1 skipped stock levels." in page(done)
    assert StockLevel.objects.get(pk=level.pk).on_hand == 9
    assert not SKU.objects.filter(code="'=SUM(A1)").exists()


def test_the_low_stock_filter_lists_levels_at_their_reorder_point_or_out(merchant):
    main = factories.warehouse(merchant.organization)
    for code, on_hand, reorder_point in (("LOW", 3, 5), ("FINE", 9, 5), ("OUT", 0, 0), ("NONE", 1, 0)):
        sku = factories.sku(merchant.organization, code, on_hand=on_hand, at=main)
        SKU.objects.filter(pk=sku.pk).update(reorder_point=reorder_point)
    StockLevel.objects.get_or_create(sku=SKU.objects.get(code="OUT"), warehouse=main)
    url = reverse("admin:inventory_stocklevel_changelist")

    def listed(query: dict[str, str]) -> list[str]:
        levels = merchant.get(url, query).context["cl"].result_list
        return sorted(level.sku.code for level in levels)

    assert listed({"stock": "low"}) == ["LOW", "OUT"]
    assert listed({"stock": "out"}) == ["OUT"]
    assert listed({}) == ["FINE", "LOW", "NONE", "OUT"]
    assert "Low (at or below the reorder point, or out)" in page(merchant.get(url))


def test_a_merchant_sees_only_their_organizations_levels(merchant, level):
    theirs = factories.warehouse(merchant.globex)
    other = factories.level(factories.sku(merchant.globex, "G-1", on_hand=5, at=theirs), theirs)

    listed = merchant.get(reverse("admin:inventory_stocklevel_changelist")).context["cl"].result_list
    assert [lvl.pk for lvl in listed] == [level.pk]
    assert merchant.get(reverse("admin:inventory_stocklevel_change", args=[other.pk])).status_code == 302
    edit(merchant, other, set_on_hand=0)
    assert StockLevel.objects.get(pk=other.pk).on_hand == 5


def test_a_merchant_without_the_change_permission_has_no_import_and_no_edit(merchant, level):
    from django.contrib.auth.models import Permission

    User.objects.get(username="wile").user_permissions.remove(
        Permission.objects.get(codename="change_stocklevel")
    )
    assert merchant.get(reverse("admin:inventory_stocklevel_import")).status_code == 403
    edit(merchant, level, set_on_hand=0)
    assert StockLevel.objects.get(pk=level.pk).on_hand == 10
    assert merchant.get(reverse("admin:inventory_stocklevel_export")).status_code == 200
