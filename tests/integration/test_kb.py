"""The knowledge-base verbs of the real haink-worker: ingest, kb stats/search/drop.

Offline mode for ingest-and-search; the OpenAI fake (tests/fakes/fake_openai.js)
for batching, the embedding cache, 429 retries, auth and dimension errors; a
folder of bad files (binary, invalid UTF-8, empty, a dangling symlink, a FIFO)
for skipping with warnings.
"""
import os

from haink import Stack

FIX = "tests/fixtures/kb"
DIM = 48


def _messages(err):
    """stderr without the JSON log lines."""
    return [l for l in err.splitlines() if l and not l.startswith("{")]


def _openai_env(fake, **extra):
    env = {"LLM_PROVIDER": "openai", "OPENAI_BASE_URL": fake.base + "/v1",
           "OPENAI_API_KEY": "test", "EMBEDDING_MODEL": "fake-embed", "EMBEDDING_DIM": DIM}
    env.update(extra)
    return env


def _write_docs(folder, n):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        with open(os.path.join(folder, "doc%03d.md" % i), "w") as f:
            extra = " Zebra crossings need striped paint." if i == 7 else ""
            f.write("# Document %d\n\nThis page explains topic number %d in a few words.%s\n"
                    % (i, i, extra))


def test_ingest_offline_then_search_stats_drop():
    with Stack() as st:
        st.redis()
        code, out, err = st.run_worker("ingest", FIX, LLM_PROVIDER="offline")
        assert code == 0, err
        assert any(l.startswith("ingested 4 files") for l in _messages(err)), err
        code, out, err = st.run_worker("kb", "search", "refund for a duplicate invoice", "-k", "2",
                                       LLM_PROVIDER="offline")
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].startswith("1. "), out
        assert lines[1].strip() == FIX + "/billing.txt", out
        assert "Invoices are generated" in out
        assert "2. " in out and "3. " not in out
        code, out, err = st.run_worker("kb", "stats", LLM_PROVIDER="offline")
        assert code == 0, err
        assert "sources:     4" in out and "model:       haink-hash-v1" in out, out
        # auto picks the Query Engine when the server has it (make test-qe)
        want = "redis" if os.environ.get("HAINK_QE_MODULE") else "local"
        assert "backend:     %s" % want in out, out
        code, out, err = st.run_worker("kb", "drop", LLM_PROVIDER="offline")
        assert code == 0 and out.startswith("dropped "), (out, err)
        assert st.r("KEYS", "rag_doc:*") == []
        code, out, err = st.run_worker("kb", "search", "anything", LLM_PROVIDER="offline")
        assert code == 0 and "no results" in out, (out, err)


def test_source_url_and_usage_errors():
    with Stack() as st:
        st.redis()
        code, out, err = st.run_worker("ingest", FIX, "--source-url", "https://docs.example.com/kb/",
                                       LLM_PROVIDER="offline")
        assert code == 0, err
        sources = {st.r("HGET", k, "source") for k in st.r("KEYS", "rag_doc:*")}
        assert "https://docs.example.com/kb/guides/backup.markdown#backups" in sources, sources
        assert "https://docs.example.com/kb/deploy.md#kubernetes" in sources, sources
        assert st.run_worker("ingest", LLM_PROVIDER="offline")[0] == 2
        assert st.run_worker("ingest", "/nonexistent/path", LLM_PROVIDER="offline")[0] == 1  # runtime failure
        assert st.run_worker("kb", "frobnicate", LLM_PROVIDER="offline")[0] == 2
        assert st.run_worker("kb", "search", LLM_PROVIDER="offline")[0] == 2


def test_batching_and_cache_with_the_openai_fake():
    with Stack() as st:
        st.redis()
        fake = st.fake("fake_openai.js", {"embedding_dim": DIM})
        docs = os.path.join(st.tmp, "docs")
        _write_docs(docs, 300)
        code, out, err = st.run_worker("ingest", docs, **_openai_env(fake))
        assert code == 0, err
        reqs = fake.requests("/v1/embeddings")
        sizes = [len(r["json"]["input"]) for r in reqs]
        assert sum(sizes) == 300 and len(sizes) >= 3 and max(sizes) <= 128, sizes
        assert all(r["headers"]["authorization"] == "Bearer test" for r in reqs)
        assert all(r["json"]["model"] == "fake-embed" for r in reqs)
        assert int(st.r("HGET", "kb:meta", "dim")) == DIM
        blob = st.r("HGET", "rag_doc:%s:0" % st.r("HKEYS", "kb:sources")[0], "embedding")
        assert len(blob) == DIM * 4
        # unchanged text: every embedding comes from the cache, no request
        code, out, err = st.run_worker("ingest", docs, **_openai_env(fake))
        assert code == 0, err
        assert len(fake.requests("/v1/embeddings")) == len(reqs)
        assert any("300 cache hits" in l for l in _messages(err)), err
        # a search embeds the query through the same client
        code, out, err = st.run_worker("kb", "search", "zebra crossings striped paint",
                                       **_openai_env(fake))
        assert code == 0, err
        assert "doc007.md" in out.splitlines()[1], out


def test_429_is_retried_after_retry_after():
    with Stack() as st:
        st.redis()
        fake = st.fake("fake_openai.js", {"embedding_dim": DIM})
        docs = os.path.join(st.tmp, "docs")
        _write_docs(docs, 2)
        fake.fault(path="/v1/embeddings", status=429, count=1, retry_after=1)
        code, out, err = st.run_worker("ingest", docs, **_openai_env(fake))
        assert code == 0, err
        reqs = fake.requests("/v1/embeddings")
        assert len(reqs) == 2, reqs
        assert reqs[1]["ts_ms"] - reqs[0]["ts_ms"] >= 900
        assert len(st.r("KEYS", "rag_doc:*")) == 2


def test_auth_and_dimension_errors_are_one_line():
    with Stack() as st:
        st.redis()
        fake = st.fake("fake_openai.js", {"embedding_dim": DIM})
        docs = os.path.join(st.tmp, "docs")
        _write_docs(docs, 2)
        # the endpoint returns 48 dimensions, the configuration says 32
        code, out, err = st.run_worker("ingest", docs, **_openai_env(fake, EMBEDDING_DIM=32))
        msgs = _messages(err)
        assert code == 1, err
        assert len(msgs) == 1 and "48" in msgs[0] and "32" in msgs[0], msgs
        # no key: the fake answers 401
        env = _openai_env(fake)
        env["OPENAI_API_KEY"] = ""
        code, out, err = st.run_worker("ingest", docs, **env)
        assert code == 2, err
        assert len(_messages(err)) == 1 and "401" in _messages(err)[0], err
        # built with 48 dimensions, then configured with 32: the --reindex message
        assert st.run_worker("ingest", docs, **_openai_env(fake))[0] == 0
        code, out, err = st.run_worker("ingest", docs, **_openai_env(fake, EMBEDDING_DIM=32))
        assert code == 2, err
        assert _messages(err) == [
            "haink-worker ingest: knowledge base was built with model fake-embed (dim 48); "
            "configured fake-embed (dim 32): re-ingest with --reindex"], err
        code, out, err = st.run_worker("kb", "search", "topic", LLM_PROVIDER="offline",
                                       EMBEDDING_MODEL="fake-embed", EMBEDDING_DIM=32)
        assert code == 2 and "--reindex" in err, err


def test_bad_files_are_skipped_never_a_crash():
    with Stack() as st:
        st.redis()
        d = os.path.join(st.tmp, "bad")
        os.makedirs(d)
        files = {"good.md": b"# Good\n\nFine text.\n", "binary.md": b"\x00\x01\x02abc",
                 "latin1.txt": b"caf\xe9", "empty.md": b"", "blank.txt": b"\n \n"}
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        os.symlink("/nonexistent/target.md", os.path.join(d, "dangling.md"))
        os.mkfifo(os.path.join(d, "pipe.md"))
        code, out, err = st.run_worker("ingest", d, LLM_PROVIDER="offline", timeout=30)
        assert code == 0, err
        msgs = "\n".join(_messages(err))
        for name in ("binary.md", "latin1.txt", "empty.md", "blank.txt", "dangling.md", "pipe.md"):
            assert "warning: skipping %s/%s" % (d, name) in msgs, msgs
        assert "ingested 1 files" in msgs, msgs
        assert len(st.r("KEYS", "rag_doc:*")) == 1


def test_links_never_loop_or_leave_the_tree_and_limits_hold():
    """One file and two `ln -s .` links made 58,368 sources in wave 1; links out of
    the folder were followed too. Now each folder and file is read once, links stay
    inside the tree, and file/byte limits stop a runaway ingest with a clear error."""
    with Stack() as st:
        st.redis()
        tree = os.path.join(st.tmp, "tree")
        outside = os.path.join(st.tmp, "outside")
        os.makedirs(os.path.join(tree, "sub"))
        os.makedirs(outside)
        with open(os.path.join(tree, "a.md"), "w") as f:
            f.write("# A\n\nThe only document inside the tree.\n")
        with open(os.path.join(outside, "secret.md"), "w") as f:
            f.write("# Secret\n\nNot part of the knowledge base.\n")
        os.symlink(".", os.path.join(tree, "loop1"))
        os.symlink(".", os.path.join(tree, "sub", "loop2"))
        os.symlink("..", os.path.join(tree, "sub", "up"))
        os.symlink(outside, os.path.join(tree, "escape"))
        os.symlink(os.path.join(tree, "a.md"), os.path.join(tree, "sub", "again.md"))
        code, out, err = st.run_worker("ingest", tree, LLM_PROVIDER="offline", timeout=60)
        assert code == 0, err
        msgs = _messages(err)
        summary = [l for l in msgs if l.startswith("ingested ")]
        assert summary and summary[0].startswith("ingested 1 files"), msgs
        assert "links leaving the tree, looping or repeating" in summary[0], summary
        assert any("escape" in l and "outside the folder" in l for l in msgs), msgs
        assert any("loop1" in l and "already ingested" in l for l in msgs), msgs
        assert any("again.md" in l and "already ingested" in l for l in msgs), msgs
        assert len(st.r("HKEYS", "kb:sources")) == 1
        assert not any("secret" in (st.r("HGET", k, "content") or "").lower()
                       for k in st.r("KEYS", "rag_doc:*"))

        # limits: a clear error naming the flag to raise (the operator's to fix: exit 2)
        many = os.path.join(st.tmp, "many")
        _write_docs(many, 5)
        code, out, err = st.run_worker("ingest", many, "--max-files", "3",
                                       LLM_PROVIDER="offline")
        assert code == 2 and "more than 3 files" in err and "--max-files" in err, (code, err)
        code, out, err = st.run_worker("ingest", many, "--max-bytes", "100",
                                       LLM_PROVIDER="offline")
        assert code == 2 and "more than 100 bytes" in err and "--max-bytes" in err, (code, err)
        code, out, err = st.run_worker("ingest", many, "--max-files", "zero",
                                       LLM_PROVIDER="offline")
        assert code == 2, (code, err)
