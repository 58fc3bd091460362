/* Unit tests of html.c: tag stripping for ingestion. */
#include <stdlib.h>

#include "common.h"
#include "kb/html.h"
#include "kb/chunk.h"
#include "../harness/test.h"

static char *conv(const char *html)
{
	struct buf b = BUF_INIT;
	html_to_markdown(html, strlen(html), &b);
	return buf_detach(&b, NULL);
}

TEST(html, strips_tags_scripts_and_styles)
{
	char *s = conv("<html><head><title>T</title><style>p{color:red}</style></head><body>"
		       "<script>var x = '<p>';</script><p>Hello <b>bold</b>\n  world</p>"
		       "<!-- hidden --><p>Second</p></body></html>");
	CHECK_STR_EQ(s, "Hello bold world\n\nSecond\n");
	free(s);
}

TEST(html, decodes_entities)
{
	char *s = conv("<p>a &amp; b &lt;c&gt; &quot;q&quot; &#39;s&#39; &#x263A; &eacute; &bogus; "
		       "caf&#233;&nbsp;x</p>");
	CHECK_STR_EQ(s, "a & b <c> \"q\" 's' \xe2\x98\xba \xc3\xa9 &bogus; caf\xc3\xa9 x\n");
	free(s);
}

TEST(html, headings_become_markdown_and_keep_structure)
{
	struct chunk_list l = {0};
	char *s = conv("<h1>Deploy</h1><p>Intro.</p><h2 class=\"x\">Kubernetes\n cluster</h2>"
		       "<ul><li>one</li><li>two</li></ul><pre>  a  b\n  c</pre>");
	CHECK_STR_EQ(s, "# Deploy\n\nIntro.\n\n## Kubernetes cluster\n\n- one\n- two\n\n"
			"```\n  a  b\n  c\n```\n");
	chunk_document(s, strlen(s), CHUNK_MARKDOWN, NULL, &l);
	CHECK_INT_EQ(l.n, 2);
	CHECK_STR_EQ(l.v[1].title, "Deploy > Kubernetes cluster");
	CHECK_STR_CONTAINS(l.v[1].text, "```\n  a  b\n  c\n```");
	chunk_list_release(&l);
	free(s);
}

TEST(html, malformed_input_is_safe)
{
	char *s = conv("a < b and <p unterminated");
	CHECK_STR_EQ(s, "a < b and\n");
	free(s);
	s = conv("<script>never closed");
	CHECK_STR_EQ(s, "");
	free(s);
	s = conv("&#");
	CHECK_STR_EQ(s, "&#\n");
	free(s);
}
