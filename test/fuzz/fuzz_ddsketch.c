/*-------------------------------------------------------------------------
 *
 * fuzz_ddsketch.c
 *		libFuzzer harness for the ddsketch text input (src/sketch_ddsketch.c).
 *
 * Every input is either refused with an ERROR or yields a sketch that
 * passes DDSketchCheck (the check merges apply), prints, reads back to the
 * same text, and merges with itself without crashing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdlib.h>

#include "fmgr.h"

#include "sketch_ddsketch.h"
#include "pgstub.h"

extern Datum rollout_ddsketch_in(PG_FUNCTION_ARGS);
extern Datum rollout_ddsketch_out(PG_FUNCTION_ARGS);

/* Calls a one-argument V1 function. */
static Datum
Call1(PGFunction fn, Datum arg)
{
	LOCAL_FCINFO(fcinfo, 1);

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = arg;
	fcinfo->args[0].isnull = false;
	return fn(fcinfo);
}

/* Parses, checks, prints, reads back and merges one input. */
static void
RunOne(char *text)
{
	DDSketch   *sketch = (DDSketch *) DatumGetPointer(Call1(rollout_ddsketch_in,
															CStringGetDatum(text)));
	char	   *out;
	DDSketch   *again;
	char	   *out2;
	volatile bool checked = false;

	/* An accepted sketch must pass the check merges apply: an ERROR here is a bug. */
	if (sigsetjmp(fuzz_error_jump, 0) == 0)
	{
		DDSketchCheck(sketch);
		checked = true;
	}
	if (!checked)
		abort();
	out = DatumGetCString(Call1(rollout_ddsketch_out, PointerGetDatum(sketch)));
	again = (DDSketch *) DatumGetPointer(Call1(rollout_ddsketch_in, CStringGetDatum(out)));
	out2 = DatumGetCString(Call1(rollout_ddsketch_out, PointerGetDatum(again)));
	if (strcmp(out, out2) != 0)
		abort();
	(void) DDSketchQuantile(sketch, 0.5);
	(void) DDSketchQuantile(sketch, 1.0);
	if (sigsetjmp(fuzz_error_jump, 0) == 0)
	{
		DDSketchState *state = DDSketchStateCreate(sketch->alpha);

		DDSketchStateMerge(state, sketch);
		DDSketchStateMerge(state, again);
		DDSketchCheck(DDSketchStateFinish(state));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text = palloc(size + 1);

	memcpy(text, data, size);
	text[size] = '\0';
	if (sigsetjmp(fuzz_error_jump, 0) == 0)
		RunOne(text);
	FuzzFreeAll();
	return 0;
}
