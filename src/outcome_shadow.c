/*-------------------------------------------------------------------------
 *
 * outcome_shadow.c
 *		Similarity of a production/shadow pair: cosine of two embeddings.
 *
 * rollout.record_shadow_pair() stores either a similarity score the
 * caller computed or the cosine of the two embeddings it passes, computed
 * here in double precision.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(rollout_cosine_similarity);

/* Returns the elements of a float4[] argument, checking shape and NULLs. */
static float4 *
EmbeddingElements(ArrayType *a, const char *argname, int *n)
{
	if (ARR_NDIM(a) != 1 || ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be a non-empty one-dimensional array", argname)));
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"%s\" must not contain nulls", argname)));
	*n = ARR_DIMS(a)[0];
	return (float4 *) ARR_DATA_PTR(a);
}

/*
 * rollout.cosine_similarity(production_embedding float4[], shadow_embedding
 * float4[]): cosine of the angle between two embeddings of equal length.
 */
Datum
rollout_cosine_similarity(PG_FUNCTION_ARGS)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *b = PG_GETARG_ARRAYTYPE_P(1);
	int			na;
	int			nb;
	float4	   *x = EmbeddingElements(a, "production_embedding", &na);
	float4	   *y = EmbeddingElements(b, "shadow_embedding", &nb);
	double		dot = 0;
	double		xx = 0;
	double		yy = 0;
	double		cosine;

	if (na != nb)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"shadow_embedding\" has %d elements, \"production_embedding\" has %d", nb, na),
				 errdetail("Both embeddings must come from the same model and have the same length.")));
	for (int i = 0; i < na; i++)
	{
		if (isnan(x[i]) || isinf(x[i]) || isnan(y[i]) || isinf(y[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" has a non-finite element at position %d",
							(isnan(x[i]) || isinf(x[i])) ? "production_embedding" : "shadow_embedding", i + 1)));
		dot += (double) x[i] * (double) y[i];
		xx += (double) x[i] * (double) x[i];
		yy += (double) y[i] * (double) y[i];
	}
	if (xx == 0 || yy == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" is a zero vector", xx == 0 ? "production_embedding" : "shadow_embedding"),
				 errdetail("The cosine similarity of a zero vector is undefined.")));
	cosine = dot / (sqrt(xx) * sqrt(yy));
	/* Rounding can push |cosine| a hair past 1. */
	cosine = Max(-1.0, Min(1.0, cosine));
	PG_RETURN_FLOAT8(cosine);
}
