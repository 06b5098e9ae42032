/*-------------------------------------------------------------------------
 *
 * fuzz_pin.c
 *		libFuzzer harness for the pin token parser (src/route_pin.c).
 *
 * RoutePinParse either refuses a token or returns fields in range whose
 * printed form, with the same MAC text, parses to the same fields.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "route.h"
#include "pgstub.h"

/* port.h maps the printf family to libpgport's; the harnesses use libc's. */
#undef snprintf
#undef vsnprintf

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *token = palloc(size + 1);
	int64		rollout_id;
	int32		version;
	int64		issued;
	char		mac[64];

	memcpy(token, data, size);
	token[size] = '\0';
	if (sigsetjmp(fuzz_error_jump, 0) == 0 &&
		RoutePinParse(token, &rollout_id, &version, &issued, mac))
	{
		char		again[256];
		int64		r2;
		int32		v2;
		int64		i2;
		char		mac2[64];

		if (rollout_id < 0 || version < 0 || issued < 0 || strlen(mac) != 32)
			abort();
		snprintf(again, sizeof(again), "1." INT64_FORMAT ".%d." INT64_FORMAT ".%s",
				 rollout_id, version, issued, mac);
		if (!RoutePinParse(again, &r2, &v2, &i2, mac2) || r2 != rollout_id ||
			v2 != version || i2 != issued || strcmp(mac, mac2) != 0)
			abort();
	}
	FuzzFreeAll();
	return 0;
}
