"""A merchant's stock screens in a real browser: a level changed by hand as a ledger movement with
its reason, a CSV import whose bad row is named by its line before anything is imported, and the
low-stock filter."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from channels_app.models import Organization
from inventory.models import SKU, MovementReason, StockLevel, StockMovement
from tests.inventory import factories

pytestmark = pytest.mark.django_db(transaction=True)


def csv_file(text: str) -> list[dict[str, object]]:
    return [{"name": "stock.csv", "mimeType": "text/csv", "buffer": text.encode()}]


def test_a_merchant_edits_a_level_and_imports_stock_after_a_preview(
    page, live_server, log_in, staff, screenshot, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path  # where the upload waits for its confirmation
    acme = Organization.objects.create(name="Acme", slug="acme")
    main = factories.warehouse(acme)
    mug = factories.sku(acme, "MUG-1", on_hand=10, at=main)
    SKU.objects.filter(pk=mug.pk).update(reorder_point=8)
    globex = Organization.objects.create(name="Globex", slug="globex")
    factories.sku(globex, "THEIRS", on_hand=1, at=factories.warehouse(globex))
    staff("wile", "--org", "acme")
    log_in(page, "wile")

    page.goto(f"{live_server.url}/admin/inventory/stocklevel/")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)  # Acme's only
    page.locator("#result_list a", has_text="MUG-1").click()
    page.fill("#id_set_on_hand", "6")
    page.select_option("#id_reason", MovementReason.DAMAGED.value)
    page.fill("#id_note", "dropped a box")
    screenshot("stock-level-change")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    expect(page.locator("#result_list")).to_contain_text("6")
    movement = StockMovement.objects.latest("pk")
    assert (movement.quantity, movement.reason, movement.note) == (-4, "damaged", "dropped a box")

    page.click("text=Low (at or below the reorder point, or out)")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)  # 6 available, reorder point 8

    page.goto(f"{live_server.url}/admin/inventory/stocklevel/")
    page.click("a.import_link")
    page.set_input_files(
        "#id_import_file", files=csv_file("sku,warehouse,on_hand\nMUG-1,main,12\nCUP-2,main,many\n")
    )
    page.click("input[type=submit]")
    expect(page.locator("#invalid-rows")).to_contain_text("on_hand 'many' is not a whole number >= 0")
    expect(page.locator("#invalid-rows tbody tr td").first).to_have_text("3")  # its line in the file
    expect(page.locator("input[name=confirm]")).to_have_count(0)
    assert StockLevel.objects.get(sku=mug).on_hand == 6 and not SKU.objects.filter(code="CUP-2").exists()

    page.set_input_files(
        "#id_import_file", files=csv_file("sku,warehouse,on_hand\nMUG-1,main,12\nCUP-2,main,3\n")
    )
    page.click("input[type=submit]")
    expect(page.locator("table.import-preview")).to_contain_text("CUP-2")
    screenshot("stock-import-preview")
    assert StockLevel.objects.get(sku=mug).on_hand == 6  # a preview only
    page.click("input[name=confirm]")
    expect(page.locator(".messagelist")).to_contain_text("Import finished: 1 new, 1 updated")
    assert StockLevel.objects.get(sku=mug).on_hand == 12
    assert StockMovement.objects.latest("pk").reference == "stock.csv:3"
