/* Markdown -> Slack mrkdwn and answer blocks (worker/slack/mrkdwn.c). */
#include "common.h"
#include "slack/mrkdwn.h"
#include "agent/tools.h"
#include "../harness/test.h"

#include <jansson.h>
#include <stdlib.h>

#define CHECK_RENDER(md, want)                                                                     \
	do {                                                                                       \
		char *got_ = mrkdwn_render(md);                                                    \
		int ok_ = !strcmp(got_, want);                                                     \
		if (!ok_)                                                                          \
			test_fail(__FILE__, __LINE__, "render: got \"%s\" want \"%s\"", got_,      \
				  want);                                                           \
		free(got_);                                                                        \
		if (!ok_)                                                                          \
			return;                                                                    \
	} while (0)

TEST(mrkdwn, inline_styles)
{
	CHECK_RENDER("**bold** and *it* and _it2_ ~~gone~~", "*bold* and _it_ and _it2_ ~gone~");
	CHECK_RENDER("use `a<b && c` here", "use `a&lt;b &amp;&amp; c` here");
	CHECK_RENDER("***both***", "_*both*_");
	/* a single tilde is not strikethrough */
	CHECK_RENDER("takes ~5 minutes", "takes ~5 minutes");
}

TEST(mrkdwn, links)
{
	CHECK_RENDER("see [the docs](https://x.example/a?b=1&c=2)",
		     "see <https://x.example/a?b=1&amp;c=2|the docs>");
	CHECK_RENDER("[**bold** link](https://x.example)", "<https://x.example|bold link>");
	CHECK_RENDER("<https://x.example/p>", "<https://x.example/p>");
	CHECK_RENDER("autolinked https://example.com/page now",
		     "autolinked <https://example.com/page> now");
	CHECK_RENDER("[a|b](https://x.example/q|r)", "<https://x.example/q%7Cr|a|b>");
}

TEST(mrkdwn, escaping)
{
	CHECK_RENDER("A & B <tag> C > D", "A &amp; B &lt;tag&gt; C &gt; D");
	CHECK_RENDER("<div>raw html</div>", "&lt;div&gt;raw html&lt;/div&gt;");
}

TEST(mrkdwn, headings_paragraphs_quotes)
{
	CHECK_RENDER("# Title with **bold**\n\nBody text.", "*Title with bold*\n\nBody text.");
	CHECK_RENDER("line one\nline two", "line one\nline two");
	CHECK_RENDER("> quoted\n> more", "> quoted\n> more");
	CHECK_RENDER("a\n\n---\n\nb", "a\n\n———\n\nb");
}

TEST(mrkdwn, lists)
{
	CHECK_RENDER("- one\n- two\n  - nested\n- three", "• one\n• two\n    ◦ nested\n• three");
	CHECK_RENDER("1. first\n2. second", "1. first\n2. second");
	CHECK_RENDER("3. from three\n4. four", "3. from three\n4. four");
	CHECK_RENDER("- item with `code` and [link](https://l.example)",
		     "• item with `code` and <https://l.example|link>");
}

TEST(mrkdwn, code_blocks)
{
	CHECK_RENDER("```c\nint x = a < b;\nreturn x;\n```",
		     "```\nint x = a &lt; b;\nreturn x;\n```");
	CHECK_RENDER("    indented code", "```\nindented code\n```");
	/* markup inside code is kept literally */
	CHECK_RENDER("```\n**not bold** [x](y)\n```", "```\n**not bold** [x](y)\n```");
}

TEST(mrkdwn, tables_are_preformatted_and_aligned)
{
	CHECK_RENDER("| Name | Size |\n|---|---|\n| alpha | 1 |\n| b & c | 200 |",
		     "```\nName  | Size\n------+-----\nalpha | 1\nb &amp; c | 200\n```");
	CHECK_RENDER("| **k** | [v](https://v.example) |\n|---|---|\n| x | y |",
		     "```\nk | v (https://v.example)\n--+----------------------\nx | y\n```");
}

static char *repeat_words(const char *word, size_t bytes)
{
	struct buf b = BUF_INIT;

	while (b.len < bytes) {
		if (b.len)
			buf_addch(&b, ' ');
		buf_adds(&b, word);
	}
	return buf_detach(&b, NULL);
}

TEST(mrkdwn, long_answers_split_at_paragraph_boundaries)
{
	struct buf md = BUF_INIT;
	struct mrkdwn_sections s;
	char *paras[10];
	size_t total = 0;

	for (int i = 0; i < 10; i++) {
		char word[16];
		snprintf(word, sizeof(word), "p%dword", i);
		paras[i] = repeat_words(word, 700);
		buf_addf(&md, "%s\n\n", paras[i]);
	}
	mrkdwn_sections(md.s, 3000, 12000, &s);
	CHECK(s.n >= 3);
	CHECK(!s.truncated);
	for (size_t i = 0; i < s.n; i++) {
		CHECK(strlen(s.v[i]) <= 3000);
		total += strlen(s.v[i]);
	}
	/* every paragraph is whole inside exactly one section */
	for (int p = 0; p < 10; p++) {
		int found = 0;
		for (size_t i = 0; i < s.n; i++)
			if (strstr(s.v[i], paras[p]))
				found++;
		CHECK_INT_EQ(found, 1);
	}
	CHECK(total >= 7000);
	mrkdwn_sections_release(&s);
	for (int i = 0; i < 10; i++)
		free(paras[i]);
	buf_release(&md);
}

TEST(mrkdwn, giant_paragraph_is_cut_at_spaces)
{
	char *md = repeat_words("lorem", 7000);
	struct mrkdwn_sections s;
	size_t words = 0, want = 0;

	for (const char *p = md; (p = strstr(p, "lorem")); p += 5)
		want++;
	mrkdwn_sections(md, 3000, 12000, &s);
	CHECK_INT_EQ(s.n, 3);
	for (size_t i = 0; i < s.n; i++) {
		const char *p = s.v[i];
		CHECK(strlen(p) <= 3000);
		CHECK(p[0] == 'l');
		CHECK(p[strlen(p) - 1] == 'm');
		for (; (p = strstr(p, "lorem")); p += 5)
			words++;
	}
	CHECK_INT_EQ(words, want);
	mrkdwn_sections_release(&s);
	free(md);
}

TEST(mrkdwn, long_code_block_is_refenced)
{
	struct buf md = BUF_INIT;
	struct mrkdwn_sections s;

	buf_adds(&md, "```\n");
	for (int i = 0; i < 300; i++)
		buf_addf(&md, "line %03d of a long listing\n", i);
	buf_adds(&md, "```\n");
	mrkdwn_sections(md.s, 3000, 12000, &s);
	CHECK(s.n >= 3);
	for (size_t i = 0; i < s.n; i++) {
		size_t n = strlen(s.v[i]);
		CHECK(n <= 3000);
		CHECK(!strncmp(s.v[i], "```\n", 4));
		CHECK(!strcmp(s.v[i] + n - 4, "\n```"));
	}
	mrkdwn_sections_release(&s);
	buf_release(&md);
}

TEST(mrkdwn, total_is_capped_with_a_note)
{
	struct buf md = BUF_INIT;
	struct mrkdwn_sections s;
	size_t total = 0;

	for (int i = 0; i < 40; i++) {
		char *p = repeat_words("filler", 700);
		buf_addf(&md, "%s\n\n", p);
		free(p);
	}
	mrkdwn_sections(md.s, 3000, 12000, &s);
	CHECK(s.truncated);
	for (size_t i = 0; i < s.n; i++) {
		CHECK(strlen(s.v[i]) <= 3000);
		total += strlen(s.v[i]);
	}
	CHECK(total <= 12000);
	CHECK(total > 10000);
	CHECK_STR_CONTAINS(s.v[s.n - 1], MRKDWN_TRUNCATED_NOTE);
	mrkdwn_sections_release(&s);
	buf_release(&md);
}

TEST(mrkdwn, empty_markdown_gives_no_sections)
{
	struct mrkdwn_sections s;

	mrkdwn_sections("", 3000, 12000, &s);
	CHECK_INT_EQ(s.n, 0);
	mrkdwn_sections_release(&s);
}

static const char *block_type(json_t *blocks, size_t i)
{
	return json_string_value(json_object_get(json_array_get(blocks, i), "type"));
}

TEST(mrkdwn, answer_blocks_with_sources_and_buttons)
{
	struct tool_source src[] = {
	    {(char *)"Rotation guide", (char *)"https://docs.example/rotation#steps", 0.9},
	    {(char *)"Runbook", (char *)"docs/runbook.md", 0.5},
	};
	json_t *b = mrkdwn_answer_blocks("Rotate it **now** & verify.", src, 2, "abc123",
					 MRKDWN_FOOTER_BUTTONS);
	json_t *actions, *el0, *el1;
	const char *ctx;
	char *dump;

	CHECK_INT_EQ(json_array_size(b), 3);
	CHECK_STR_EQ(block_type(b, 0), "section");
	CHECK_STR_EQ(json_string_value(
			 json_object_get(json_object_get(json_array_get(b, 0), "text"), "text")),
		     "Rotate it *now* &amp; verify.");
	CHECK_STR_EQ(block_type(b, 1), "context");
	ctx = json_string_value(json_object_get(
	    json_array_get(json_object_get(json_array_get(b, 1), "elements"), 0), "text"));
	CHECK_STR_CONTAINS(ctx, "Sources:");
	CHECK_STR_CONTAINS(ctx, "<https://docs.example/rotation#steps|Rotation guide>");
	CHECK_STR_CONTAINS(ctx, "Runbook (docs/runbook.md)");
	CHECK_STR_EQ(block_type(b, 2), "actions");
	actions = json_object_get(json_array_get(b, 2), "elements");
	el0 = json_array_get(actions, 0);
	el1 = json_array_get(actions, 1);
	CHECK_STR_EQ(json_string_value(json_object_get(el0, "action_id")), "feedback_helpful");
	CHECK_STR_EQ(json_string_value(json_object_get(el1, "action_id")), "feedback_not_helpful");
	CHECK_STR_EQ(json_string_value(json_object_get(el0, "value")), "abc123");
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(el1, "text"), "text")),
		     "Not helpful");
	json_decref(b);

	b = mrkdwn_answer_blocks("Done.", src, 1, "abc123", MRKDWN_FOOTER_THANKS);
	dump = json_dumps(b, 0);
	CHECK_STR_CONTAINS(dump, "Thanks for the feedback!");
	CHECK(!strstr(dump, "feedback_helpful"));
	free(dump);
	json_decref(b);
}

TEST(mrkdwn, sources_are_capped_at_five)
{
	struct tool_source src[7];
	char titles[7][16], urls[7][40];
	json_t *b;
	char *dump;

	for (int i = 0; i < 7; i++) {
		snprintf(titles[i], sizeof(titles[i]), "T%d", i);
		snprintf(urls[i], sizeof(urls[i]), "https://s.example/%d", i);
		src[i] = (struct tool_source){titles[i], urls[i], 1.0};
	}
	b = mrkdwn_answer_blocks("x", src, 7, NULL, MRKDWN_FOOTER_NONE);
	dump = json_dumps(b, 0);
	CHECK_STR_CONTAINS(dump, "https://s.example/4|T4");
	CHECK(!strstr(dump, "https://s.example/5"));
	CHECK(!strstr(dump, "actions"));
	free(dump);
	json_decref(b);
}

TEST(mrkdwn, fallback_text_is_cut_at_a_word)
{
	char *md = repeat_words("word", 5000);
	char *t = mrkdwn_fallback_text(md, 100);

	CHECK(strlen(t) <= 100);
	CHECK_STR_CONTAINS(t, "…");
	CHECK(!strncmp(t, "word word", 9));
	CHECK(strstr(t, "word…") || strstr(t, "word …"));
	free(t);
	free(md);
}

TEST(mrkdwn, native_feedback_buttons_name_the_answer_and_the_verdict)
{
	json_t *b = mrkdwn_answer_blocks("Done.", NULL, 0, "abc123", MRKDWN_FOOTER_NATIVE);
	json_t *blk = json_array_get(b, json_array_size(b) - 1);
	json_t *el = json_array_get(json_object_get(blk, "elements"), 0);

	CHECK_STR_EQ(json_string_value(json_object_get(blk, "type")), "context_actions");
	CHECK_STR_EQ(json_string_value(json_object_get(el, "type")), "feedback_buttons");
	CHECK_STR_EQ(json_string_value(json_object_get(el, "action_id")), "feedback");
	CHECK_STR_EQ(
	    json_string_value(json_object_get(json_object_get(el, "positive_button"), "value")),
	    "helpful:abc123");
	CHECK_STR_EQ(
	    json_string_value(json_object_get(json_object_get(el, "negative_button"), "value")),
	    "not_helpful:abc123");
	json_decref(b);
	/* no answer id, no control */
	b = mrkdwn_answer_blocks("Done.", NULL, 0, NULL, MRKDWN_FOOTER_NATIVE);
	CHECK_INT_EQ(json_array_size(b), 1);
	json_decref(b);
}
