"""predict's streaming input: windows in input order, bounded memory, a progress line for files, and the line faults
(a byte order mark, CR-only line ends, a line of control characters only)."""
import json

from ernie_distill.commands import predict


def run(capsys, *args):
    code = predict.main(list(args))
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_windows_keep_input_order_and_a_file_shows_its_progress(exported_student, tmp_path, capsys, monkeypatch):
    texts = [f"第{i}个评论，{'很好' if i % 2 else '太差了'}" for i in range(25)]
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    code, whole, _ = run(capsys, "--model_dir", exported_student, "--input_file", str(path))
    monkeypatch.setattr(predict, "WINDOW_LINES", 4)
    monkeypatch.setattr(predict, "PROGRESS_EVERY_S", 0.0)
    code_windows, windowed, err = run(capsys, "--model_dir", exported_student, "--input_file", str(path))
    assert code == code_windows == 0 and windowed == whole and [r["text"] for r in windowed] == texts
    progress = [line for line in err.splitlines() if line.startswith("predicted ")]
    assert len(progress) == 7 and progress[-1].startswith("predicted 25 texts (100% of the file)")


def test_bom_cr_line_ends_and_control_characters(exported_student, tmp_path, capsys):
    path = tmp_path / "mac.txt"
    path.write_bytes("\ufeff房间很干净\r太差了\r\x00\r\r\n好".encode("utf-8"))
    code, rows, err = run(capsys, "--model_dir", exported_student, "--input_file", str(path))
    assert code == 1 and [r["text"] for r in rows] == ["房间很干净", "太差了", "好"]
    assert f"skipped {path}:3: no text, only control characters (such as NUL)" in err
    assert f"skipped {path}:4: empty or whitespace-only text" in err
    assert "2 input(s) could not be predicted (see above); 3 predicted" in err


def test_logits_are_every_labels_exact_float32_logit(exported_student, capsys):
    import numpy as np

    from ernie_distill.deploy.inference import Predictor

    texts = ["房间很干净", "太差了"]
    code, rows, _ = run(capsys, "--model_dir", exported_student, "--text", texts[0], "--text", texts[1], "--logits")
    expected = Predictor(exported_student).logits(texts)
    assert code == 0 and [r["text"] for r in rows] == texts
    np.testing.assert_array_equal(np.asarray([r["logits"] for r in rows], dtype="float32"), expected)
    _, plain, _ = run(capsys, "--model_dir", exported_student, "--text", texts[0])
    assert "logits" not in plain[0]


def test_lines_are_byte_for_byte_what_json_dumps_writes():
    import numpy as np

    texts = ['引号"和\\反斜杠', "tab\there", "\x00\x1f\x7f", "\u2028\u2029", "🫠 emoji", "\ud800"]
    best, scores = np.array([0, 1, 2, 0, 1, 2]), np.array([0.5, 1 / 3, 1e-7, 1.0, np.nan, 0.123456789], "float32")
    logits = np.array([[0.1, -2.5, 3e38], [np.inf, -np.inf, np.nan]] * 3, "float32")
    names = ["负面", 'a "quoted" label', "x"]
    expected = "".join(json.dumps({"text": t, "label": names[i], "score": round(float(s), 6)}, ensure_ascii=False)
                       + "\n" for t, i, s in zip(texts, best, scores))
    assert predict.json_lines(texts, names, best, scores) == expected
    with_logits = predict.json_lines(texts, names, best, scores, logits).split("\n")
    for line, text, i, s, row in zip(with_logits, texts, best, scores, logits.tolist()):
        assert line == json.dumps({"text": text, "label": names[i], "score": round(float(s), 6), "logits": row},
                                  ensure_ascii=False)


def test_lines_are_the_predictors_own_results(exported_student):
    from ernie_distill.deploy.inference import Predictor

    predictor, texts = Predictor(exported_student), ["房间很干净", "太差了", '"引号"', "a\tb"]
    expected = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in predictor.predict(texts, with_logits=True))
    assert predict.json_lines(texts, predictor.label_names, *predictor.label_scores(texts)) == expected


def test_windows_split_anywhere_give_the_same_lines_and_line_numbers(exported_student, tmp_path, capsys, monkeypatch):
    path = tmp_path / "mixed.txt"
    path.write_bytes("好\r\n差\r".encode() + b"\xff bad\n\n" + "好的\r\n\r不\n坏".encode())
    whole = run(capsys, "--model_dir", exported_student, "--input_file", str(path))
    for lines in (1, 2, 3):
        monkeypatch.setattr(predict, "WINDOW_LINES", lines)
        assert run(capsys, "--model_dir", exported_student, "--input_file", str(path)) == whole
    code, rows, err = whole
    assert code == 1 and [r["text"] for r in rows] == ["好", "差", "好的", "不", "坏"]
    assert [line for line in err.splitlines() if line.startswith("skipped")] == [
        f"skipped {path}:3: not valid UTF-8 (invalid start byte at byte 0)",
        f"skipped {path}:4: empty or whitespace-only text", f"skipped {path}:6: empty or whitespace-only text"]
    path.write_bytes(b"\n\xff\n\x00\n" + "好".encode())  # what reading finds (line 2) is reported in line order too
    _, rows, err = run(capsys, "--model_dir", exported_student, "--input_file", str(path))
    assert [line.split(": ")[0] for line in err.splitlines() if line.startswith("skipped")] == [
        f"skipped {path}:{n}" for n in (1, 2, 3)] and [r["text"] for r in rows] == ["好"]


def test_input_from_a_fifo_a_pipe_and_standard_input(exported_student, tmp_path, capsys, stdin_bytes):
    import os
    import threading

    texts = ["房间很干净", "太差了"]
    _, expected, _ = run(capsys, "--model_dir", exported_student, "--text", texts[0], "--text", texts[1])
    data = "".join(text + "\n" for text in texts).encode()
    fifo = tmp_path / "texts.fifo"
    os.mkfifo(fifo)
    threading.Thread(target=fifo.write_bytes, args=(data,), daemon=True).start()
    assert run(capsys, "--model_dir", exported_student, "--input_file", str(fifo))[:2] == (0, expected)
    read, write = os.pipe()  # <(...) in a shell
    os.write(write, data)
    os.close(write)
    assert run(capsys, "--model_dir", exported_student, "--input_file", f"/dev/fd/{read}")[:2] == (0, expected)
    os.close(read)
    for name in ("-", "/dev/stdin"):
        stdin_bytes(data)
        assert run(capsys, "--model_dir", exported_student, "--input_file", name)[:2] == (0, expected)
