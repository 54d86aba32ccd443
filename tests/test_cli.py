"""Every bad input gets one line that says what to do, and exit code 2."""

from importlib.metadata import version

import rag.pipeline
from tests.conftest import assert_user_error
from tests.fakes import FakeEncoder, FakeLLM


def test_index_prints_what_it_did(run, corpus):
    result = run("index", str(corpus))
    assert result.exit_code == 0
    assert "Indexed 3 files into" in result.output


def test_unreadable_file_is_skipped_with_a_warning_and_the_rest_indexed(run, corpus):
    (corpus / "bad.txt").write_bytes(b"\xff\xfe\xfa broken")
    result = run("index", str(corpus))
    assert result.exit_code == 0
    assert "skipped" in result.output and "bad.txt" in result.output and "Indexed 3 files" in result.output


def test_file_names_with_brackets_are_printed_as_they_are(run, corpus):
    (corpus / "[draft] notes.txt").write_bytes(b"\xff\xfe\xfa broken")
    result = run("index", str(corpus))
    assert result.exit_code == 0 and "[draft] notes.txt" in result.output


def test_empty_question(run):
    assert_user_error(run("ask", "   "), "question is empty")


def test_path_that_does_not_exist(run, tmp_path):
    assert_user_error(run("index", str(tmp_path / "missing")), "does not exist")


def test_folder_without_supported_files(run, tmp_path):
    (tmp_path / "pdfs").mkdir()
    (tmp_path / "pdfs" / "a.pdf").write_bytes(b"%PDF-1.4")
    assert_user_error(run("index", str(tmp_path / "pdfs")), "No readable .txt, .md, .html, .htm, .pdf or .docx files", "a.pdf is not a readable PDF")


def test_empty_file_alone(run, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    assert_user_error(run("index", str(tmp_path / "empty.txt")), "has no text")


def test_missing_gguf(run, tmp_path):
    assert_user_error(run("ask", "What?", "--model", str(tmp_path / "nope.gguf")), "does not exist", "--model")


def test_corrupt_gguf(run, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"<html>not a model</html>")
    assert_user_error(run("ask", "What?", "--model", str(bad)), "not a GGUF model")


def test_truncated_gguf(run, tmp_path):
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    assert_user_error(run("ask", "What?", "--model", str(bad)), "could not load")


def test_index_from_another_embedding_model(run, monkeypatch, corpus):
    assert run("index", str(corpus)).exit_code == 0

    class OtherEncoder(FakeEncoder):
        name, dim = "other-model", 32

    monkeypatch.setattr(rag.pipeline, "load_encoder", lambda settings: OtherEncoder())
    assert_user_error(run("ask", "Where did the leaders meet?"), "other-model", "re-index")


def test_question_far_longer_than_the_context(run, monkeypatch, corpus):
    monkeypatch.setattr(rag.pipeline, "load_chat_model", lambda settings: FakeLLM(n_ctx=512))
    assert_user_error(run("ask", "Where did the leaders meet in Sochi? " * 300), "question")


def answering_llm(settings) -> FakeLLM:
    llm = FakeLLM()
    llm.queue.append("She sells about 400 croissants every morning [1].")
    return llm


def test_ask_json_answers_with_fakes(run, monkeypatch):
    monkeypatch.setattr(rag.pipeline, "load_chat_model", answering_llm)
    result = run("ask", "How many croissants does Marie Dubois sell?", "--json")
    assert result.exit_code == 0
    assert '"refused": false' in result.output and "400 croissants" in result.output


def test_eval_reports_the_metrics_and_what_produced_them(run, monkeypatch, tmp_path):
    import json

    monkeypatch.setattr(rag.pipeline, "load_chat_model", answering_llm)
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "q1", "question": "How many croissants does Marie Dubois sell?",
                                     "answers": [["400"]], "sources": ["bakery.txt"], "answerable": True}) + "\n",
                         encoding="utf-8")
    result = run("eval", str(questions), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    metrics = report["metrics"]
    assert metrics["evidence_recall@k"] == 1.0 and metrics["answer_correct"] == 1.0
    assert metrics["llm"] == FakeLLM().name and metrics["answer_threshold"] == 0.5
    assert metrics["check_threshold"] == 0.62
    # The figures are tied to the library set that produced them.
    assert report["versions"]["faiss-cpu"] == version("faiss-cpu")
    assert report["versions"]["llama-cpp-python"] == version("llama-cpp-python")


def test_version_names_the_app_and_key_libraries(run):
    result = run("--version")
    assert result.exit_code == 0
    lines = dict(line.split(" ", 1) for line in result.output.splitlines())
    assert lines["offline-rag"] == version("offline-rag")
    assert lines["sentence-transformers"] == version("sentence-transformers")
    assert lines["gradio"] == version("gradio")
