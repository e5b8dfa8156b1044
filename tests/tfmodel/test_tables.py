from tfmodel.tables import format_rows


def test_columns_line_up_between_rules_under_the_title():
    table = format_rows([("A", "1"), ("Longer name", "2")], title="tfmodel environment")
    assert table.splitlines() == [
        "tfmodel environment",
        "--------------",
        "A            1",
        "Longer name  2",
        "--------------",
    ]


def test_a_mapping_prints_in_its_order_without_a_title():
    assert format_rows({"verdict": "BLESSED", "model": "digits 2"}) == (
        "verdict  BLESSED\nmodel    digits 2"
    )
