/* Unit tests of chunk.c: structure-aware chunking. */
#include "common.h"
#include "kb/chunk.h"
#include "../harness/test.h"

static void chunk_str(const char *s, enum chunk_format f, struct chunk_list *l)
{
	memset(l, 0, sizeof(*l));
	chunk_document(s, strlen(s), f, NULL, l);
}

TEST(chunk, headings_give_title_paths)
{
	struct chunk_list l;
	chunk_str("Intro before any heading.\n\n# Deploy\n\nHow to deploy.\n\n## Kubernetes\n\n"
		  "### Scaling\n\nAdd replicas.\n\n## Docker Compose ##\n\nRun compose.\n",
		  CHUNK_MARKDOWN, &l);
	CHECK_INT_EQ(l.n, 4);
	CHECK_STR_EQ(l.v[0].title, "");
	CHECK_STR_EQ(l.v[0].text, "Intro before any heading.");
	CHECK_STR_EQ(l.v[1].title, "Deploy");
	CHECK_STR_EQ(l.v[1].anchor, "deploy");
	CHECK_STR_EQ(l.v[2].title, "Deploy > Kubernetes > Scaling");
	CHECK_STR_EQ(l.v[2].anchor, "scaling");
	CHECK_STR_EQ(l.v[2].text, "Add replicas.");
	CHECK_STR_EQ(l.v[3].title, "Deploy > Docker Compose");
	CHECK_STR_EQ(l.v[3].anchor, "docker-compose");
	chunk_list_release(&l);
}

TEST(chunk, setext_headings_and_front_matter)
{
	struct chunk_list l;
	chunk_str("---\ntitle: x\n---\nGuide\n=====\n\nBody one.\n\nPart\n----\nBody two.\n",
		  CHUNK_MARKDOWN, &l);
	CHECK_INT_EQ(l.n, 2);
	CHECK_STR_EQ(l.v[0].title, "Guide");
	CHECK_STR_EQ(l.v[0].text, "Body one.");
	CHECK_STR_EQ(l.v[1].title, "Guide > Part");
	CHECK_STR_EQ(l.v[1].text, "Body two.");
	chunk_list_release(&l);
}

static int is_word(const char *s, size_t n)
{
	/* every word of the long paragraph is "w" + 4 digits */
	if (n != 5 || s[0] != 'w')
		return 0;
	for (size_t i = 1; i < 5; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

TEST(chunk, long_paragraph_splits_with_overlap_at_word_boundaries)
{
	struct buf doc = BUF_INIT;
	struct chunk_list l;

	for (int i = 0; i < 700; i++)
		buf_addf(&doc, "w%04d ", i); /* 4200 bytes, one paragraph */
	chunk_str(doc.s, CHUNK_MARKDOWN, &l);
	CHECK(l.n >= 5);
	for (size_t c = 0; c < l.n; c++) {
		const char *t = l.v[c].text, *p = t;
		size_t len = strlen(t);
		CHECK(len <= CHUNK_TARGET);
		while (*p) { /* every token is a whole word */
			const char *sp = strchr(p, ' ');
			size_t n = sp ? (size_t)(sp - p) : strlen(p);
			CHECK(is_word(p, n));
			p += n + (sp ? 1 : 0);
		}
		if (c > 0) {
			/* the chunk starts with words the previous one ended with */
			char first[6];
			const char *prev = l.v[c - 1].text;
			memcpy(first, t, 5);
			first[5] = '\0';
			CHECK(strstr(prev, first) != NULL);
			CHECK(strstr(prev, first) >= prev + strlen(prev) - CHUNK_OVERLAP - 6);
		}
	}
	/* nothing lost: the last word is in the last chunk */
	CHECK_STR_CONTAINS(l.v[l.n - 1].text, "w0699");
	chunk_list_release(&l);
	buf_release(&doc);
}

TEST(chunk, fenced_code_kept_whole)
{
	struct buf doc = BUF_INIT, code = BUF_INIT;
	struct chunk_list l;
	int found = 0;

	for (int i = 0; i < 100; i++)
		buf_addf(&doc, "text%03d ", i); /* 800 bytes of prose */
	buf_adds(&code, "```sh\n");
	for (int i = 0; i < 20; i++)
		buf_addf(&code, "echo line %02d\n\n", i); /* blank lines inside the fence */
	buf_adds(&code, "```");
	buf_addf(&doc, "\n\n%s\n\nAfter the code.\n", code.s);
	chunk_str(doc.s, CHUNK_MARKDOWN, &l);
	CHECK(l.n >= 2);
	for (size_t c = 0; c < l.n; c++)
		if (strstr(l.v[c].text, code.s))
			found = 1;
	CHECK(found);
	chunk_list_release(&l);
	buf_release(&doc);
	buf_release(&code);
}

TEST(chunk, unicode_never_split)
{
	struct buf doc = BUF_INIT;
	struct chunk_list l;

	for (int i = 0; i < 300; i++)
		buf_adds(&doc, "héllo wörld ünïcødé 日本語 ");
	buf_adds(&doc, "\n\n");
	for (int i = 0; i < 1500; i++)
		buf_adds(&doc, "é"); /* one 3000-byte word: must be cut, at a character */
	chunk_str(doc.s, CHUNK_MARKDOWN, &l);
	CHECK(l.n >= 3);
	for (size_t c = 0; c < l.n; c++)
		CHECK(utf8_valid(l.v[c].text, strlen(l.v[c].text)));
	chunk_list_release(&l);
	buf_release(&doc);
}

TEST(chunk, empty_input_gives_no_chunks)
{
	struct chunk_list l;
	chunk_str("", CHUNK_MARKDOWN, &l);
	CHECK_INT_EQ(l.n, 0);
	chunk_str("  \n\n\t\n", CHUNK_TEXT, &l);
	CHECK_INT_EQ(l.n, 0);
	chunk_str("# Only a heading\n", CHUNK_MARKDOWN, &l);
	CHECK_INT_EQ(l.n, 0);
	chunk_list_release(&l);
}

TEST(chunk, plain_text_has_no_headings)
{
	struct chunk_list l;
	chunk_str("# not a heading\n\nsecond paragraph\n", CHUNK_TEXT, &l);
	CHECK_INT_EQ(l.n, 1);
	CHECK_STR_EQ(l.v[0].title, "");
	CHECK_STR_EQ(l.v[0].text, "# not a heading\n\nsecond paragraph");
	chunk_list_release(&l);
}

TEST(chunk, slug_and_utf8_check)
{
	struct buf b = BUF_INIT;
	chunk_slug("What does REDELIVERY_TIMEOUT_MS do?", 35, &b);
	CHECK_STR_EQ(b.s, "what-does-redelivery_timeout_ms-do");
	buf_reset(&b);
	chunk_slug("Café & co.", strlen("Café & co."), &b);
	CHECK_STR_EQ(b.s, "café--co");
	buf_release(&b);
	CHECK(utf8_valid("héllo", 6));
	CHECK(!utf8_valid("h\xc3", 2));
	CHECK(!utf8_valid("\xed\xa0\x80", 3)); /* a surrogate */
}
