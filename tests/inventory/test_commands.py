import json

import pytest
from django.core.management import CommandError, call_command

from inventory.models import SKU, StockMovement, Warehouse
from tests.channels_app import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    return factories.organization()


def test_import_stock_creates_skus_and_warehouses_and_writes_the_ledger(org, tmp_path, capsys):
    csv_file = tmp_path / "stock.csv"
    csv_file.write_text("sku,warehouse,on_hand,title\nA-1,main,5,Alpha\nB-2,main,0,\nA-1,store,3,Alpha\n")
    call_command("import_stock", "--org", "acme", str(csv_file))
    assert "imported 3 rows, 2 stock levels changed" in capsys.readouterr().out
    assert SKU.objects.get(code="A-1").title == "Alpha"
    assert list(Warehouse.objects.order_by("code").values_list("code", "is_default")) == [
        ("main", True),
        ("store", False),
    ]
    assert StockMovement.objects.get(sku__code="A-1", warehouse__code="store").reference == "stock.csv:4"
    call_command("stock_report", "--org", "acme", "--json")
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == {"sku": "A-1", "warehouse": "main", "on_hand": 5, "reserved": 0, "available": 5}
    assert len(rows) == 3


@pytest.mark.parametrize(
    "content, message",
    [
        ("sku,warehouse,on_hand\nA,main,5\nB,main,x\n", "stock.csv:3: on_hand 'x' is not a whole number"),
        ("sku,warehouse,on_hand\nA,main,5\n,main,1\n", "stock.csv:3: sku is empty"),
        ("sku,warehouse,on_hand\nA,main,5\nA,main,6\n", "stock.csv:3: A at main repeats line 2"),
        ("sku,on_hand\nA,5\n", "missing column(s) warehouse"),
    ],
)
def test_a_bad_row_reports_its_line_and_imports_nothing(org, tmp_path, content, message):
    csv_file = tmp_path / "stock.csv"
    csv_file.write_text(content)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("import_stock", "--org", "acme", str(csv_file))
    assert not SKU.objects.exists() and not StockMovement.objects.exists()


def test_import_stock_reports_every_bad_row_not_only_the_first(org, tmp_path):
    csv_file = tmp_path / "stock.csv"
    csv_file.write_text("sku,warehouse,on_hand\nA,main,5\nB,main,x\n,main,1\nA,main,6\nC,main,-2\n")
    with pytest.raises(CommandError) as raised:
        call_command("import_stock", "--org", "acme", str(csv_file))
    assert str(raised.value).splitlines() == [
        f"{csv_file}:3: on_hand 'x' is not a whole number >= 0",
        f"{csv_file}:4: sku is empty",
        f"{csv_file}:5: A at main repeats line 2",
        f"{csv_file}:6: on_hand '-2' is not a whole number >= 0",
        "4 bad rows; nothing was imported",
    ]
    assert not SKU.objects.exists() and not StockMovement.objects.exists()
