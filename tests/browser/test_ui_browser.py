"""The Dev UI in headless Chromium (tests/browser/cdp.py) against the real
redis-server, haink-api and haink-worker, with the OpenAI-compatible fake
answering through a tool call, so each answer's trace has model and tool steps.

One stack and one browser for the module; the tests run in order, as a person
would use the page: start screen, an example question queued then worked on
then answered with its trace, feedback, reload, escaping, a bad name, a wrong
token, Redis down. Screenshots go to build/artifacts/ui/ (look at them).
"""
import json
import os
import re
import sys

from haink import BUILD, ROOT, Stack, wait_until

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Chromium  # noqa: E402

ART = os.path.join(BUILD, "artifacts", "ui")
KB = os.path.join(ROOT, "tests", "e2e", "kb")
AGENTS = os.path.join(ROOT, "deploy", "agents.json")
TOKEN = "browser-ui-token-42"
DIM = 64
EXAMPLE = "What does REDELIVERY_TIMEOUT_MS do?"  # an example prompt of Engineering
ANSWER = ("REDELIVERY_TIMEOUT_MS is how long a task may stay unacknowledged before another "
          "worker takes it over. See [Rotation guide](https://docs.example.com/kb/rotation.md).")
XSS_Q = "Is <b>bold</b> & <img src=x onerror=\"window.__xssq=1\"> shown as text?"
XSS_A = "Raw <img src=x onerror=\"window.__xss=1\"> and <script>window.__xss=2</script> stay text."

S = {}  # the module's stack, fake, browser, api port


def shot(name):
    return S["b"].screenshot(os.path.join(ART, name + ".png"))


def worker_env():
    return dict(LLM_PROVIDER="openai", OPENAI_API_KEY="sk-test",
                OPENAI_BASE_URL=S["llm"].base + "/v1", CHAT_MODEL="gpt-4o-mini",
                EMBEDDING_MODEL="text-embedding-3-small", EMBEDDING_DIM=DIM,
                VECTOR_BACKEND="local", AGENTS_FILE=AGENTS, WORKER_CONCURRENCY=2,
                SHUTDOWN_GRACE_S=5, MEMORY_TOP_K=0, ANSWERS_PER_USER_HOUR=3)


def setup_module():
    os.makedirs(ART, exist_ok=True)
    for f in os.listdir(ART):
        if f.endswith(".png"):
            os.unlink(os.path.join(ART, f))
    st = S["st"] = Stack()
    try:
        st.redis()
        S["llm"] = st.fake("fake_openai.js", {"embedding_dim": DIM})
        code, _, err = st.run_worker("ingest", KB, "--source-url", "https://docs.example.com/kb",
                                     **worker_env())
        assert code == 0, "ingest failed: " + err[-2000:]
        S["api"] = st.api(UI_TOKEN=TOKEN, AGENTS_FILE=AGENTS)
        S["base"] = "http://127.0.0.1:%d" % S["api"].port
        S["b"] = Chromium(ART)
    except Exception:
        teardown_module()
        raise


def teardown_module():
    if S.get("b"):
        S["b"].close()
    if S.get("st"):
        S["st"].close()


def questions():
    """The question tasks on the queue, oldest first (the workers trim what they finished)."""
    return [f for _, f in S["st"].r.xrange(S["st"].stream) if f.get("type") == "question"]


def sent(text):
    """True when a question with this text reached the queue: it is still there, or a worker
    took it (its placeholder or notice is on the session's stream; the queue drops a task
    only after a worker finished it)."""
    if any(f.get("text") == text for f in questions()):
        return True
    sess = S["b"].eval("JSON.parse(localStorage.getItem('haink_ui_conv')).session")
    return any(f.get("question") == text for _, f in S["st"].r.xrange("ui:" + sess))


def answer_record(i):
    """The stored answer (answer:<id>) of the i-th answered bubble."""
    aid = S["b"].eval("document.querySelectorAll('.bot[data-state=answered]')[%d].dataset.answer"
                      % i)
    assert aid, i
    return S["st"].r.hgetall("answer:" + aid)


def answered(n):
    """Waits for n answered bubbles; returns their texts."""
    return S["b"].wait("(() => { const a = document.querySelectorAll('.bot[data-state=answered]');"
                       " return a.length >= %d ? Array.from(a, (x) => x.innerText) : null; })()" % n,
                       timeout=45, what="%d answered bubble(s)" % n)


def test_start_screen_shows_each_agent_with_description_and_examples():
    b = S["b"]
    b.goto(S["base"] + "/ui#token=" + TOKEN)
    cards = b.wait("(() => { const c = document.querySelectorAll('#start:not([hidden]) .card');"
                   " return c.length ? Array.from(c, (x) => x.innerText) : null; })()",
                   what="the start screen's agent cards")
    agents = json.load(open(AGENTS))["agents"]
    assert len(cards) == len(agents), cards
    for card, ag in zip(cards, agents):
        assert ag["name"] in card and ag["description"] in card, (card, ag["name"])
        for ex in ag["examples"]:
            assert ex in card, (ex, card)
    # the default agent is selected, in the card and in the header
    assert b.eval("document.getElementById('agent').value") == "support"
    assert "Selected" in b.text(".card.selected") and "Support" in b.text(".card.selected")
    assert "#token" not in b.eval("location.href")  # the token left the address bar
    shot("01-start")


def test_example_question_is_queued_then_working_then_answered_with_its_trace():
    b, llm = S["b"], S["llm"]
    llm.script([{"match": "REDELIVERY_TIMEOUT_MS", "delay_ms": 1500,
                 "tool_calls": [{"name": "search_knowledge_base",
                                 "arguments": {"query": "redelivery timeout"}}]},
                {"match": "REDELIVERY_TIMEOUT_MS", "delay_ms": 3000, "content": ANSWER}])
    # no worker yet: clicking Engineering's example queues it, and the page says so
    idx = b.eval("Array.from(document.querySelectorAll('.example')).findIndex("
                 "(e) => e.textContent === %s)" % json.dumps(EXAMPLE))
    assert idx >= 0
    b.click(".example", idx)
    b.wait("document.querySelector('.bot[data-state=queued]') !== null", what="the queued state")
    assert "Queued" in b.text(".bot[data-state=queued]")
    assert b.eval("document.getElementById('agent').value") == "engineering"
    assert b.eval("document.getElementById('start').hidden") is True
    assert b.text(".user") == EXAMPLE
    q = wait_until(questions, 5, "the question task")
    assert q[-1]["agent"] == "engineering" and q[-1]["text"] == EXAMPLE, q
    shot("02-queued")
    # a reload while queued keeps the question, its queued state and the agent
    b.reload()
    b.wait("document.querySelector('.bot[data-state=queued]') !== null",
           what="the queued state after a reload")
    assert b.text(".user") == EXAMPLE
    assert b.eval("document.getElementById('agent').value") == "engineering"

    S["w"] = S["st"].worker(**worker_env())
    # working, with the current step and the steps so far, while the second model call runs
    b.wait("(() => { const w = document.querySelector('.bot[data-state=working]');"
           " return w && w.innerText.includes('Searching the knowledge base') &&"
           " w.querySelectorAll('.trace .step').length >= 2; })()",
           what="the working state with the current step")
    assert "Working" in b.text(".bot[data-state=working]")
    assert b.eval("document.querySelector('.bot[data-state=queued]')") is None
    shot("03-working")

    text = answered(1)[0]
    assert "REDELIVERY_TIMEOUT_MS is how long" in text
    assert "answered by Engineering" in text
    assert b.eval("document.querySelector('.bot[data-state=answered] a[href]').href") == \
        "https://docs.example.com/kb/rotation.md"
    # the trace: model call, tool call, model call, in order, with what they did
    b.click(".bot[data-state=answered] .trace summary")
    steps = b.eval("Array.from(document.querySelectorAll('.bot[data-state=answered] .trace .step'),"
                   " (s) => ({cls: s.className, text: s.innerText}))")
    assert [s["cls"] for s in steps] == ["step model", "step tool", "step model"], steps
    assert "gpt-4o-mini" in steps[0]["text"] and "tokens" in steps[0]["text"]
    assert "calls search_knowledge_base" in steps[0]["text"]
    assert "search_knowledge_base" in steps[1]["text"], steps[1]
    assert '"query":"redelivery timeout"' in steps[1]["text"], steps[1]  # the arguments
    assert '{"results":[{"title":' in steps[1]["text"], steps[1]  # the result's start
    assert re.search(r"result \([0-9][0-9,]* bytes\)", steps[1]["text"].lower()), steps[1]
    assert "REDELIVERY_TIMEOUT_MS is how long" in steps[2]["text"]
    for s in steps:
        assert " ms" in s["text"] or " s" in s["text"], s
    summary = b.text(".bot[data-state=answered] .trace summary")
    assert "2 model calls" in summary and "1 tool call" in summary and "tokens" in summary
    shot("04-answer-trace")


def test_feedback_is_confirmed_and_recorded():
    b, st = S["b"], S["st"]
    answer_id = b.eval("document.querySelector('.bot[data-state=answered]').dataset.answer")
    assert answer_id
    b.click(".bot[data-state=answered] .fb button")  # Helpful
    b.wait("(document.querySelector('.bot[data-state=answered] .fb') || {}).innerText"
           " === 'Thanks for the feedback (helpful)'", what="the feedback confirmation")
    assert wait_until(lambda: st.r("HGET", "answer:" + answer_id, "feedback"), 10,
                      "the feedback on the answer") == "helpful"


def test_reload_keeps_the_conversation_and_its_agent():
    b = S["b"]
    b.reload()
    text = answered(1)[0]
    assert "answered by Engineering" in text
    assert "Thanks for the feedback" in text
    assert b.eval("document.getElementById('agent').value") == "engineering"
    # the next question goes to the conversation's agent, not the default
    b.type("#question", "How do I scale the workers?")
    b.press_enter()
    texts = answered(2)
    assert "answered by Engineering" in texts[1]
    a = answer_record(1)
    assert a["agent"] == "engineering" and a["question"] == "How do I scale the workers?", a


def test_html_in_questions_and_answers_is_shown_as_text():
    b, llm = S["b"], S["llm"]
    llm.script([{"match": "shown as text", "content": XSS_A}])
    b.type("#question", XSS_Q)
    b.press_enter()
    texts = answered(3)
    assert XSS_A in texts[2]
    users = b.eval("Array.from(document.querySelectorAll('.user'), (u) => u.textContent)")
    assert XSS_Q in users
    assert b.eval("typeof window.__xss") == "undefined"
    assert b.eval("typeof window.__xssq") == "undefined"
    assert b.eval("document.querySelectorAll('#chat img, #chat script, #chat b').length") == 0
    # the trace of an answer without tools: one model call, its reply as text
    assert b.eval("document.querySelectorAll('.bot[data-state=answered]')[2]"
                  ".querySelectorAll('.trace .step').length") == 1
    shot("05-conversation")
    b.viewport(390, 844)
    shot("06-narrow")
    b.viewport(1200, 860)


def test_a_name_with_a_space_is_explained_and_nothing_is_sent():
    b = S["b"]
    b.type("#user", "Ada Lovelace")
    msg = b.wait("(() => { const m = document.getElementById('user-msg');"
                 " return !m.hidden && m.innerText; })()", what="the name's message")
    assert "Spaces are not allowed" in msg and "Ada.Lovelace" in msg and "ui-user" in msg, msg
    assert b.eval("document.getElementById('user').getAttribute('aria-invalid')") == "true"
    b.type("#question", "Who am I?")
    b.press_enter()
    status = b.wait("document.getElementById('status').innerText", what="the status message")
    assert "Not sent" in status and "Your name" in status, status
    assert b.eval("document.getElementById('question').value") == "Who am I?"
    shot("07-bad-name")
    assert not sent("Who am I?")  # never sent as the default user
    # a valid name clears the message and is the one sent
    b.type("#user", "ada.lovelace")
    assert b.eval("document.getElementById('user-msg').hidden") is True
    b.click("#send")
    answered(4)
    a = answer_record(3)
    assert a["question"] == "Who am I?" and a["user"] == "ada.lovelace", a


def test_a_question_over_the_rate_limit_leaves_the_queued_state_with_a_notice():
    b = S["b"]
    n = len(answered(4))
    b.type("#user", "rate.limited")  # ANSWERS_PER_USER_HOUR=3 for this worker
    for i in range(3):
        b.type("#question", "Rate limit question %d?" % i)
        b.press_enter()
        answered(n + i + 1)
    b.type("#question", "One question too many?")
    b.press_enter()
    note = b.wait("(() => { const x = document.querySelectorAll('.bot');"
                  " const l = x[x.length - 1]; return l.dataset.state === 'notice' && l.innerText; })()",
                  what="the rate-limit notice in place of the queued state")
    assert "try again" in note.lower(), note  # ANSWER_LIMIT_NOTICE
    assert b.eval("document.querySelector('.bot[data-state=queued]')") is None
    assert b.eval("JSON.parse(localStorage.getItem('haink_ui_conv')).pending.length") == 0
    users = b.eval("Array.from(document.querySelectorAll('.user'), (u) => u.textContent)")
    assert users[-1] == "One question too many?", users
    b.type("#user", "ada.lovelace")


def test_a_wrong_token_shows_an_error_and_keeps_the_question():
    b = S["b"]
    b.goto("about:blank")  # a new document, not a same-document change of the fragment
    b.goto(S["base"] + "/ui#token=wrong-token")
    b.wait("!document.getElementById('token-form').hidden &&"
           " document.getElementById('token-msg').innerText.includes('rejected')",
           what="the token form saying the token was rejected")
    b.type("#question", "Does a wrong token lose my question?")
    b.press_enter()
    note = b.wait("(document.querySelector('.user.failed .failnote') || {}).innerText",
                  what="the failed question's note")
    assert "Not sent" in note and "401" in note, note
    assert "Does a wrong token lose my question?" in b.text(".user.failed")
    assert "401" in b.text("#status")
    assert b.eval("document.getElementById('question').value") == \
        "Does a wrong token lose my question?"
    assert "rejected" in b.text("#token-msg")
    shot("08-wrong-token")
    assert not sent("Does a wrong token lose my question?")
    # the right token, then "Send again": it goes through
    b.type("#token-input", TOKEN)
    b.click("#token-form button")
    answered(7)  # the conversation is read again (and laid out) before the next click
    b.click(".user.failed .failnote button")
    b.wait("document.querySelector('.user.failed') === null", what="the failed copy to go")
    answered(8)
    assert answer_record(7)["question"] == "Does a wrong token lose my question?"


def test_redis_down_shows_an_error_and_keeps_the_question():
    b, st = S["b"], S["st"]
    st.r.close()
    st.rs.stop()
    try:
        b.type("#question", "Is my question kept while Redis is down?")
        b.press_enter()
        note = b.wait("(() => { const f = document.querySelectorAll('.user.failed');"
                      " return f.length && f[f.length - 1].innerText; })()",
                      what="the failed question's note")
        assert "Is my question kept" in note and "Not sent" in note and "503" in note, note
        assert "503" in b.text("#status")
        assert b.eval("document.getElementById('question').value") == \
            "Is my question kept while Redis is down?"
        shot("09-redis-down")
        st.rs.start()
        st.r = st.rs.client()
        assert not sent("Is my question kept while Redis is down?")
    finally:
        if st.rs.proc is None:
            st.rs.start()
            st.r = st.rs.client()


def test_the_page_raised_no_script_error():
    assert S["b"].errors == []
