// SPDX-License-Identifier: MIT
/*
 * The scenario engine: hostile files get "FILE:LINE: reason" and an error,
 * limits hold, expectations and automatic invariant checks are counted, and
 * commits are reported once each (docs/scenario.md).
 */
#include "scenario/scenario.h"
#include "test.h"

static char err[512];
static struct vi_scn_result res;
static unsigned commits_seen;

static void on_commit(void *ctx, const struct vi_scn_commit *c)
{
	commits_seen++;
	T_EQ(c->index, commits_seen);
}

static int run(const char *text, uint64_t max_steps)
{
	struct vi_scn_opts o = { .policy = -1, .sim_only = true, .max_steps = max_steps, .on_commit = on_commit };

	commits_seen = 0;
	return vi_scn_run(text, strlen(text), "t.scn", &o, &res, err, sizeof(err));
}

/* The error of a bad file: exact code and message. */
static void bad(int line, const char *text, int rc, const char *msg)
{
	int got = run(text, 0);

	if (got != rc || strcmp(err, msg))
		fprintf(stderr, "case at line %d: rc %d err '%s'\n", line, got, err);
	T_EQ(got, rc);
	T_STREQ(err, msg);
}

#define BAD(text, rc, msg) bad(__LINE__, text, rc, msg)

int main(void)
{
	/* a good file: every expectation holds, every commit checked */
	T_EQ(run("# comment\n"
		 "ram r 1G\n"
		 "mmio m 64K\n"
		 "begin\n"
		 "add root r 0\n"
		 "add root m 0x10000 prio=1   # over the RAM\n"
		 "commit\n"
		 "expect mappings 2\n"
		 "expect mapped 0x20000 r 0x20000\n"
		 "expect unmapped 0x10000\n"
		 "del root m\n"
		 "expect ops 3 0\n"
		 "expect windows 0\n"
		 "repeat 3 k\n"
		 "move r {k*2}G+0x100000\n"
		 "end\n"
		 "check\n", 0), 0);
	T_STREQ(err, "");
	T_EQ(res.commits, 5);
	T_EQ(commits_seen, 5);
	T_EQ(res.expects, 5);
	T_EQ(res.expects_failed, 0);
	T_EQ(res.checks, 7);		/* one per commit, one for `check`, one at the end */
	T_EQ(res.checks_failed, 0);
	T_EQ(res.stats.map_ops, 6);
	T_EQ(res.stats.unmap_ops, 5);	/* the first move takes the three extents around the old overlay */
	T_STREQ(res.backend, "sim:type1v2");

	/* numbers inside {} take the 0x prefix and a suffix, as everywhere (one parser) */
	T_EQ(run("ram r {4K}\nadd root r {0x1000*2}\nexpect mapped 0x2000 r 0\nexpect mappings 1\n"
		 "ram s {1k}K\nadd root s {2M}\nexpect mapped 0x200000 s 0\n", 0), 0);
	T_STREQ(err, "");
	T_EQ(res.expects_failed, 0);
	T_EQ(res.expects, 3);
	/* an inner repeat variable hides an outer one of the same name */
	T_EQ(run("repeat 2 i\nrepeat 3 i\nram r{i}x 4K\nend\nend\n", 0), -EEXIST);
	T_STREQ(err, "t.scn:3: region 'r0x' exists");	/* the second outer pass, not the second inner one */
	T_EQ(res.lines, 11);	/* the planted outer-hides-inner bug fails at the 5th */
	T_EQ(run("repeat 2 j\nrepeat 3 i\nram r{j}_{i} 4K\nend\nend\n", 0), 0);
	T_STREQ(err, "");

	/* a failed expectation is counted and located, the run goes on */
	T_EQ(run("ram r 4K\nadd root r 0\nexpect mappings 2\nexpect unmapped 0\nexpect mappings 1\n", 0), 0);
	T_EQ(res.expects, 3);
	T_EQ(res.expects_failed, 2);
	T_STREQ(res.first_failure, "t.scn:3: mappings: 1, expected 2");

	/* hostile or malformed files */
	BAD("bogus 1 2\n", -EINVAL, "t.scn:1: unknown command 'bogus'");
	BAD("ram r 1Q\n", -EINVAL, "t.scn:1: bad size '1Q' (a number, K/M/G/T suffix, + - * and parentheses)");
	BAD("ram r 0x\n", -EINVAL, "t.scn:1: bad size '0x' (a number, K/M/G/T suffix, + - * and parentheses)");
	BAD("ram r 99999999999999999999\n", -EINVAL,
	    "t.scn:1: bad size '99999999999999999999' (a number, K/M/G/T suffix, + - * and parentheses)");
	BAD("ram r 16777216T\n", -EINVAL,
	    "t.scn:1: bad size '16777216T' (a number, K/M/G/T suffix, + - * and parentheses)");
	BAD("ram r 1-2\n", -EINVAL, "t.scn:1: bad size '1-2' (a number, K/M/G/T suffix, + - * and parentheses)");
	BAD("ram r 4K\nram r 4K\n", -EEXIST, "t.scn:2: region 'r' exists");
	BAD("ram root 4K\n", -EINVAL, "t.scn:1: bad region name 'root' (1-63 of A-Z a-z 0-9 _-.:/[], not 'root')");
	BAD("ram r 0\n", -EINVAL, "t.scn:1: RAM needs a size");
	BAD("add root nothere 0\n", -EINVAL, "t.scn:1: no region 'nothere'");
	BAD("ram r 4K\nadd root r 0 prio=x\n", -EINVAL, "t.scn:2: bad priority 'x'");
	BAD("ram r 4K\nadd root r 0\nadd root r 0\n", -EBUSY, "t.scn:3: add failed: Device or resource busy");
	BAD("repeat 2\nram r{i} 4K\n", -EINVAL, "t.scn:2: repeat without end");
	BAD("end\n", -EINVAL, "t.scn:1: end without repeat");
	BAD("ram r{j} 4K\n", -EINVAL, "t.scn:1: 'j' is not a repeat variable here");
	BAD("repeat 1\nram r{i 4K\nend\n", -EINVAL, "t.scn:2: unterminated '{'");
	BAD("commit\n", -EINVAL, "t.scn:1: commit without begin");
	BAD("ram r 4K\nbegin\n", -EINVAL, "t.scn:2: begin without commit at the end of the file");
	BAD("ram r 4K\nbackend sim:type1v1\n", -EINVAL, "t.scn:2: 'backend' must come before the first region");
	/* a bad backend is blamed on its `backend` line, not on the first region line (issue 17 §4) */
	BAD("backend sim:type9\nram r 4K\n", -EINVAL,
	    "t.scn:1: backend spec 'sim:type9': unknown simulated semantics (type1v2, type1v1, iommufd): type9");
	BAD("backend sim:type1v2,limit=0\nram r 4K\n", -EINVAL,
	    "t.scn:1: backend spec 'sim:type1v2,limit=0': limit must be a number from 1 to 2^32 - 1: 0");
	BAD("backend vfio:7\nram r 4K\n", -EPERM, "t.scn:1: only simulated backends here, not 'vfio:7'");
	BAD("granule 3\n", -EINVAL, "t.scn:1: granule must be a power of two");
	BAD("ram a b c d e f g h i j k l m n o p q\n", -EINVAL, "t.scn:1: more than 16 words");
	{
		/* a NUL byte inside the text, which strlen() would not see */
		struct vi_scn_opts o = { .policy = -1, .sim_only = true };
		T_EQ(vi_scn_run("ram r 4K\n\0x\n", 12, "t.scn", &o, &res, err, sizeof(err)), -EINVAL);
		T_STREQ(err, "t.scn:2: NUL byte in the file");
	}
	{
		char line[1200];
		memset(line, 'x', sizeof(line) - 2);
		line[sizeof(line) - 2] = '\n';
		line[sizeof(line) - 1] = 0;
		BAD(line, -EINVAL, "t.scn:1: line longer than 1024 bytes");
	}
	/* limits: a loop bomb stops at the step limit, nesting at its depth */
	T_EQ(run("repeat 1000000000\nrepeat 1000000000\nend\nend\n", 5000), -E2BIG);
	T_STREQ(err, "t.scn:3: more than 5000 lines executed");
	BAD("repeat 1 a\nrepeat 1 b\nrepeat 1 c\nrepeat 1 d\nrepeat 1 e\nrepeat 1 f\nrepeat 1 g\nrepeat 1 h\nrepeat 1 i\n",
	    -E2BIG, "t.scn:9: repeat nested more than 8 deep");
	/* a granule that would need too many host mappings is refused before anything is mapped */
	{
		struct vi_scn_opts o = { .policy = -1, .sim_only = true, .max_extents = 4096 };
		const char *t = "granule 8K\nram r 2G\n";
		T_EQ(vi_scn_run(t, strlen(t), "t.scn", &o, &res, err, sizeof(err)), -E2BIG);
		T_STREQ(err, "t.scn:2: regions would need more than 4096 host mappings at granule 8192");
		t = "granule 8K\nram r 24M\nram s 16M\n";
		T_EQ(vi_scn_run(t, strlen(t), "t.scn", &o, &res, err, sizeof(err)), -E2BIG);
		T_STREQ(err, "t.scn:3: regions would need more than 4096 host mappings at granule 8192");
	}
	/* repeat 0 skips its body, nested blocks included */
	T_EQ(run("repeat 0\nbogus\nrepeat 2\nbogus\nend\nend\nram r 4K\n", 0), 0);
	/* the cost budget: skipped bodies and whole checks count, so neither multiplies past the step limit */
	T_EQ(run("repeat 100\nrepeat 0\nx\nx\nx\nx\nx\nx\nx\nx\nend\nend\n", 500), -E2BIG);
	T_STREQ(err, "t.scn:2: more than 500 lines executed");
	T_EQ(run("repeat 100\nrepeat 0\nx\nx\nx\nx\nx\nx\nx\nx\nend\nend\n", 1300), 0);
	T_EQ(res.lines, 1 + 100 * 11);	/* repeat, then per iteration: repeat 0, 9 skipped lines, end */
	T_EQ(run("granule 4K\nram r 64K\nadd root r 0\nrepeat 100\ncheck\nend\n", 1000), -E2BIG);
	T_STREQ(err, "t.scn:5: more than 1000 lines executed (a check counts one per host mapping)");
	T_EQ(run("granule 4K\nram r 64K\nadd root r 0\nrepeat 10\ncheck\nend\n", 1000), 0);
	T_EQ(res.lines, 3 + 1 + 10 * (1 + 16 + 1));	/* each check: its line, 16 mappings, and the end line */
	return t_done();
}
