"""Tables as users bring them: fractional counts, unknown enumerations, contradictions, repeated columns and ids,
junk at scale, and validate with nothing to score."""

import contextlib
import io
import json
import time

import pytest

from chipplan.cli import run
from chipplan.io.schema import FIRST_PROBLEMS, JUNK_ROWS, MAX_NEAR_SEARCHES

TRAIN_HEAD = "row_id,hardware_id,model_name,num_accelerators,num_layers,hidden_size,num_heads,num_kv_heads," \
             "ffn_hidden_size,vocab_size,seq_len,global_batch_seqs,global_batch_tokens,tp,pp,dp,attention\n"
TRAIN_ROW = "t{i},h100-sxm-80gb,,8,24,2048,16,16,8192,32000,4096,64,,1,1,8,\n"
INF_HEAD = "row_id,hardware_id,model_name,num_accelerators,tp,inf_input_len,inf_output_len,inf_batch_size\n"
INF_ROW = "s{i},h100-sxm-80gb,llama3-8b,1,1,512,128,8\n"


def predict(tmp_path, text, *extra):
    f = tmp_path / "t.csv"
    f.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["predict", str(f), *extra])
    return code, out.getvalue(), err.getvalue()


def rows_of(tmp_path, text):
    code, out, err = predict(tmp_path, text)
    assert code == 0, err
    return {r["row_id"]: r for r in json.loads(out)["rows"]}


def _train(i, **cells):
    row = TRAIN_ROW.format(i=i).rstrip("\n").split(",")
    head = TRAIN_HEAD.strip().split(",")
    for k, v in cells.items():
        row[head.index(k)] = str(v)
    return ",".join(row) + "\n"


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("num_layers", "24.5", "num_layers: must be a whole number in [1, 100,000] layers, got 24.5"),
    ("hidden_size", "2304.5", "hidden_size: must be a whole number in [1, 10,000,000] elements, got 2304.5"),
    ("num_kv_heads", "1.5", "num_kv_heads: must be 0 or a whole number in [1, 100,000] heads, got 1.5"),
    ("global_batch_seqs", "63.9",
     "global_batch_seqs: must be a whole number in [1, 1,000,000,000] sequences, got 63.9"),
    ("num_layers", "true", "num_layers: must be a number, got 'true'"),
    ("attention", "sliding-window", "attention: must be one of mha, gqa, mqa, mla, got 'sliding-window'"),
    ("global_batch_tokens", "300000", "global_batch_tokens: must equal global_batch_seqs × seq_len = 262144, got "
                                      "300000"),
])
def test_impossible_training_rows_are_errors_and_good_rows_are_still_predicted(tmp_path, column, value, reason):
    rows = rows_of(tmp_path, TRAIN_HEAD + _train(1) + _train(2, **{column: value}) + _train(3))
    assert rows["t2"]["status"] == "error" and rows["t2"]["reason"] == reason
    assert rows["t1"]["status"] == rows["t3"]["status"] == "ok"
    assert rows["t1"]["prediction"]["tokens_per_s_per_gpu"] > 0


def test_consistent_batch_and_known_attention_are_fine(tmp_path):
    text = TRAIN_HEAD + _train(1, global_batch_tokens=262144, attention="GQA") + _train(2, num_layers="24.0")
    rows = rows_of(tmp_path, text)
    assert rows["t1"]["status"] == "ok" and rows["t2"]["status"] == "ok"


def test_a_column_of_booleans_is_not_read_as_ones(tmp_path):
    text = TRAIN_HEAD + _train(1, num_layers="true") + _train(2, num_layers="false")
    rows = rows_of(tmp_path, text)
    assert rows["t1"]["reason"] == "num_layers: must be a number, got true"
    assert rows["t2"]["reason"] == "num_layers: must be a number, got false"


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("inf_batch_size", "0.5", "inf_batch_size: must be a whole number in [1, 100,000,000] requests, got 0.5"),
    ("inf_output_len", "1.5", "inf_output_len: must be a whole number in [1, 100,000,000] tokens, got 1.5"),
    ("inf_input_len", "511.25", "inf_input_len: must be a whole number in [1, 100,000,000] tokens, got 511.25"),
])
def test_fractional_serving_counts(tmp_path, column, value, reason):
    head = INF_HEAD.strip().split(",")
    bad = INF_ROW.format(i=2).strip().split(",")
    bad[head.index(column)] = value
    rows = rows_of(tmp_path, INF_HEAD + INF_ROW.format(i=1) + ",".join(bad) + "\n")
    assert rows["s2"]["status"] == "error" and rows["s2"]["reason"] == reason
    assert rows["s1"]["status"] == "ok"


def test_repeated_column_is_named(tmp_path):
    code, out, err = predict(tmp_path, "row_id,hardware_id,num_layers,seq_len,num_layers\n1,h100-sxm-80gb,24,2048,32\n")
    assert code == 2 and out == ""
    assert err == f"error: {tmp_path / 't.csv'}: column 'num_layers' appears 2 times (columns 3, 5); keep one\n"


def test_missing_required_column_is_found_from_the_header(tmp_path):
    code, _, err = predict(tmp_path, "row_id,model_name\n" + "1,x\n" * 10)
    assert code == 2 and "missing required column(s) hardware_id" in err


def test_duplicate_row_ids_are_named_and_the_first_is_predicted(tmp_path):
    code, out, _ = predict(tmp_path, TRAIN_HEAD + _train(1) + _train(2) + _train(1))
    assert code == 0
    rows = json.loads(out)["rows"]
    assert [r["status"] for r in rows] == ["ok", "ok", "error"]
    assert rows[2]["reason"] == "row_id: 't1' is already the id of row 1; row ids must be unique"


def test_junk_table_fails_fast_naming_the_first_problems(tmp_path):
    lines = [f"{i},chip-{i:05d}x,model-{i},{i}.5,lots,{i % 7}\n" for i in range(20_000)]
    t = time.process_time()  # CPU time, not wall: the suite runs beside other work
    head = "row_id,hardware_id,model_name,num_layers,hidden_size,seq_len\n"
    code, out, err = predict(tmp_path, head + "".join(lines))
    assert time.process_time() - t < 30  # a few seconds; scoring all 20,000 junk rows with searches takes longer
    assert code == 2 and out == ""
    assert err.startswith(f"error: {tmp_path / 't.csv'}: none of the first {JUNK_ROWS:,} rows (of 20,000) can be "
                          "predicted; the first problems: row '0': num_layers: must be a whole number in [1, 100,000] "
                          "layers, got 0.5; ")
    assert err.count("; row '") == FIRST_PROBLEMS - 1 and len(err.splitlines()) == 1


def test_many_distinct_unknown_ids_search_near_matches_a_bounded_number_of_times(tmp_path):
    good = _train(0)
    junk = [_train(i).replace("h100-sxm-80gb", f"h100-sxm-{i}gbx") for i in range(1, 2_001)]
    t = time.process_time()  # CPU time, not wall
    rows = rows_of(tmp_path, TRAIN_HEAD + good + "".join(junk))
    assert time.process_time() - t < 60
    assert rows["t0"]["status"] == "ok"
    reasons = [r["reason"] for k, r in rows.items() if k != "t0"]
    assert all(r.startswith("hardware_id: unknown id 'h100-sxm-") for r in reasons)
    assert sum("did you mean" in r for r in reasons) == MAX_NEAR_SEARCHES


def _validate(tmp_path, text):
    f = tmp_path / "v.csv"
    f.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(["validate", str(f), "--json"])
    return code, out.getvalue(), err.getvalue()


def test_validate_without_a_target_column_exits_2(tmp_path):
    code, out, err = _validate(tmp_path, TRAIN_HEAD + _train(1))
    assert code == 2 and out == ""
    assert err.startswith(f"error: {tmp_path / 'v.csv'}: no target column (target_tokens_per_s_per_gpu, ")


def test_validate_with_only_junk_targets_exits_2(tmp_path):
    head = TRAIN_HEAD.strip() + ",target_tokens_per_s_per_gpu\n"
    code, _, err = _validate(tmp_path, head + _train(1).strip() + ",fast\n" + _train(2).strip() + ",-3\n")
    assert code == 2 and "no row has a usable target (a number > 0" in err


def test_validate_with_nothing_predicted_says_why(tmp_path):
    head = TRAIN_HEAD.strip() + ",target_tokens_per_s_per_gpu\n"
    code, _, err = _validate(tmp_path, head + _train(1, num_layers="24.5").strip() + ",9000\n")
    assert code == 2
    assert err == (f"error: {tmp_path / 'v.csv'}: none of the 1 targets could be scored; the first problems: "
                   "row 't1': num_layers: must be a whole number in [1, 100,000] layers, got 24.5\n")


def test_validate_scores_what_it_can(tmp_path):
    head = TRAIN_HEAD.strip() + ",target_tokens_per_s_per_gpu\n"
    code, out, _ = _validate(tmp_path, head + _train(1).strip() + ",9000\n" + _train(2, num_layers="x").strip()
                             + ",9000\n")
    assert code == 0
    s = json.loads(out)["overall"]["tokens_per_s_per_gpu"]
    assert s["n_rows"] == 2 and s["n_predicted"] == 1


@pytest.mark.parametrize(("column", "value", "reason"), [
    # ranges come from chipplan.specs.limits, the same table the command line and model files use
    ("num_layers", "200000", "num_layers: must be a whole number in [1, 100,000] layers, got 200000"),
    ("vocab_size", "1e9", "vocab_size: must be a whole number in [1, 100,000,000] tokens, got 1e+09"),
    ("num_accelerators", "2e7", "num_accelerators: must be a whole number in [1, 10,000,000] accelerators, got 2e+07"),
    ("tp", "2000000", "tp: must be a whole number in [1, 1,000,000] accelerators, got 2e+06"),
])
def test_sizes_beyond_their_plausible_range_are_row_errors(tmp_path, column, value, reason):
    from chipplan.catalog.schema import ModelEntry
    from chipplan.io.schema import COLUMNS_BY_NAME
    from chipplan.specs import limits

    head = "row_id,hardware_id,model_name,seq_len,global_batch_seqs"
    good = "h100-sxm-80gb,gpt3-1.3b,2048,512"
    code, out, _ = predict(tmp_path, f"{head},{column}\nok,{good},\nbad,{good},{value}\n")
    rows = {r["row_id"]: r for r in json.loads(out)["rows"]}
    assert code == 0 and rows["ok"]["status"] == "ok"
    assert rows["bad"]["status"] == "error" and rows["bad"]["reason"] == reason
    # one place per range: the column and the model file state the very same one
    if COLUMNS_BY_NAME[column].quantity in ("layers", "vocabulary_tokens"):
        field = COLUMNS_BY_NAME[column].field
        prop = ModelEntry.model_json_schema()["properties"][field]
        assert prop["maximum"] == limits.RANGES[COLUMNS_BY_NAME[column].quantity].high
