/*-------------------------------------------------------------------------
 *
 * stats_common.c
 *		Argument parsing, array reading and checked distribution functions
 *		shared by the statistics modules.
 *
 * Upper tails come from GSL's _Q functions, never from 1 - P, so p-values
 * down to 1e-300 keep their digits. GSL's error handler is off (see
 * _PG_init); every status and every result is checked here instead.
 *
 * The Student t lower tail is computed from the regularized incomplete beta
 * function. GSL's gsl_cdf_tdist_P loses up to 1e-6 relative accuracy in the
 * far tail, and gsl_sf_beta_inc loses digits when the degrees of freedom
 * are large (its continued fraction cancels near x = 1), so for more than
 * STATS_T_QUAD_DF degrees of freedom the tail is integrated with GSL's
 * adaptive quadrature (QAGIU) from the log-density instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_sf_gamma.h>

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "stats_common.h"

/* Above this many degrees of freedom the t tail is integrated numerically. */
#define STATS_T_QUAD_DF 2000.0

/* Intervals of the QAGIU workspace. */
#define STATS_QUAD_LIMIT 200

/*
 * Parses an alternative hypothesis name: two-sided, less or greater.
 */
StatsAlternative
StatsParseAlternative(const char *name, const char *argname)
{
	if (strcmp(name, "two-sided") == 0)
		return STATS_TWO_SIDED;
	if (strcmp(name, "less") == 0)
		return STATS_LESS;
	if (strcmp(name, "greater") == 0)
		return STATS_GREATER;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("argument \"%s\" must be two-sided, less or greater, not \"%s\"",
					argname, name),
			 errdetail("The alternative hypothesis uses scipy's names.")));
	return STATS_TWO_SIDED;		/* keep the compiler quiet */
}

/*
 * Returns the text name of an alternative hypothesis.
 */
const char *
StatsAlternativeName(StatsAlternative alternative)
{
	switch (alternative)
	{
		case STATS_LESS:
			return "less";
		case STATS_GREATER:
			return "greater";
		default:
			return "two-sided";
	}
}

/*
 * Parses a proportion_test method: wald, agresti-caffo or score.
 */
StatsProportionMethod
StatsParseProportionMethod(const char *name, const char *argname)
{
	if (strcmp(name, "wald") == 0)
		return STATS_PROP_WALD;
	if (strcmp(name, "agresti-caffo") == 0)
		return STATS_PROP_AGRESTI_CAFFO;
	if (strcmp(name, "score") == 0)
		return STATS_PROP_SCORE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("argument \"%s\" must be wald, agresti-caffo or score, not \"%s\"",
					argname, name),
			 errdetail("These are statsmodels' methods for a difference of proportions.")));
	return STATS_PROP_SCORE;	/* keep the compiler quiet */
}

/*
 * Parses a mann_whitney method: auto, exact or asymptotic.
 */
StatsRankMethod
StatsParseRankMethod(const char *name, const char *argname)
{
	if (strcmp(name, "auto") == 0)
		return STATS_RANK_AUTO;
	if (strcmp(name, "exact") == 0)
		return STATS_RANK_EXACT;
	if (strcmp(name, "asymptotic") == 0)
		return STATS_RANK_ASYMPTOTIC;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("argument \"%s\" must be auto, exact or asymptotic, not \"%s\"",
					argname, name),
			 errdetail("These are scipy's methods for the Mann-Whitney U test.")));
	return STATS_RANK_AUTO;		/* keep the compiler quiet */
}

/*
 * Parses a text argument holding an alternative hypothesis.
 */
StatsAlternative
StatsAlternativeArg(text *arg, const char *argname)
{
	char	   *name = text_to_cstring(arg);
	StatsAlternative result = StatsParseAlternative(name, argname);

	pfree(name);
	return result;
}

/*
 * Rejects NaN and infinities.
 */
void
StatsCheckFinite(double value, const char *argname)
{
	if (!isfinite(value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be a finite number", argname),
				 errdetail("It is %s.", isnan(value) ? "NaN" : (value > 0 ? "Infinity" : "-Infinity"))));
}

/*
 * Rejects values outside the open interval (0, 1).
 */
void
StatsCheckProbability(double value, const char *argname)
{
	StatsCheckFinite(value, argname);
	if (!(value > 0.0 && value < 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be between 0 and 1 exclusive", argname),
				 errdetail("It is %g.", value)));
}

/*
 * Rejects counts below min.
 */
void
StatsCheckCount(int64 value, int64 min, const char *argname)
{
	if (value < min)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must be at least " INT64_FORMAT, argname, min),
				 errdetail("It is " INT64_FORMAT ".", value)));
}

/*
 * Checks that an array argument is one-dimensional, non-empty and free of
 * NULLs, and deconstructs it.
 */
static void
StatsDeconstruct(ArrayType *array, Oid elemtype, const char *argname,
				 Datum **values, int *count)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	bool	   *nulls;

	if (ARR_ELEMTYPE(array) != elemtype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("argument \"%s\" has the wrong element type", argname)));
	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("argument \"%s\" must be a one-dimensional array", argname),
				 errdetail("It has %d dimensions.", ARR_NDIM(array))));
	if (ARR_NDIM(array) == 0 || ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"%s\" must not be empty", argname),
				 errdetail("An empty array gives the test nothing to compare.")));

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign,
					  values, &nulls, count);
	if (ARR_HASNULL(array))
	{
		for (int i = 0; i < *count; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("argument \"%s\" must not contain NULL elements", argname),
						 errdetail("Element %d is NULL.", i + 1)));
		}
	}
	pfree(nulls);
}

/*
 * Reads a float8[] argument into a palloc'd C array of finite values.
 */
double *
StatsReadFloat8Array(ArrayType *array, const char *argname, int *count)
{
	double	   *result;

	if (ARR_ELEMTYPE(array) == FLOAT8OID && ARR_NDIM(array) == 1 && !ARR_HASNULL(array))
	{
		/* Fast path: copy the contiguous payload. */
		*count = ARR_DIMS(array)[0];
		result = palloc_extended(sizeof(double) * (*count), MCXT_ALLOC_HUGE);
		memcpy(result, ARR_DATA_PTR(array), sizeof(double) * (*count));
	}
	else
	{
		Datum	   *values;

		StatsDeconstruct(array, FLOAT8OID, argname, &values, count);
		result = palloc_extended(sizeof(double) * (*count), MCXT_ALLOC_HUGE);
		for (int i = 0; i < *count; i++)
			result[i] = DatumGetFloat8(values[i]);
		pfree(values);
	}

	for (int i = 0; i < *count; i++)
	{
		if (!isfinite(result[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("argument \"%s\" must contain only finite numbers", argname),
					 errdetail("Element %d is %s.", i + 1,
							   isnan(result[i]) ? "NaN" : (result[i] > 0 ? "Infinity" : "-Infinity"))));
	}
	return result;
}

/*
 * Reads a bigint[] argument into a palloc'd C array.
 */
int64 *
StatsReadInt64Array(ArrayType *array, const char *argname, int *count)
{
	Datum	   *values;
	int64	   *result;

	StatsDeconstruct(array, INT8OID, argname, &values, count);
	result = palloc(sizeof(int64) * (*count));
	for (int i = 0; i < *count; i++)
		result[i] = DatumGetInt64(values[i]);
	pfree(values);
	return result;
}

/*
 * Raises an ERROR for a distribution function that failed or returned a
 * value outside [0, 1]; returns the value otherwise.
 */
static double
StatsCheckProb(double value, int status, const char *what)
{
	if ((status != GSL_SUCCESS && status != GSL_EUNDRFLW) ||
		!(value >= 0.0 && value <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not evaluate the %s", what),
				 errdetail("GSL returned %g with status \"%s\".", value, gsl_strerror(status))));
	return value;
}

/*
 * Upper tail of the standard normal distribution, P(Z > z).
 */
double
StatsNormalSf(double z)
{
	if (isnan(z))
		return NAN;
	if (isinf(z))
		return z > 0 ? 0.0 : 1.0;
	return StatsCheckProb(gsl_cdf_ugaussian_Q(z), GSL_SUCCESS, "normal distribution");
}

/*
 * Lower tail of the standard normal distribution, P(Z <= z).
 */
double
StatsNormalCdf(double z)
{
	if (isnan(z))
		return NAN;
	if (isinf(z))
		return z > 0 ? 1.0 : 0.0;
	return StatsCheckProb(gsl_cdf_ugaussian_P(z), GSL_SUCCESS, "normal distribution");
}

/*
 * Inverse upper tail of the standard normal distribution: z with
 * P(Z > z) = p, for p in (0, 1).
 */
double
StatsNormalIsf(double p)
{
	double		z = gsl_cdf_ugaussian_Qinv(p);

	if (!isfinite(z))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not evaluate the normal quantile"),
				 errdetail("GSL returned %g for the probability %g.", z, p)));
	return z;
}

/* Parameters of the t density for the quadrature. */
typedef struct StatsTDensity
{
	double		df;
	double		log_norm;		/* log of the density's normalizing constant */
} StatsTDensity;

/*
 * Logarithm of Gamma(a + 1/2) / Gamma(a), accurate for large a where the
 * difference of two log-gammas would cancel.
 */
static double
StatsLogGammaHalfRatio(double a)
{
	double		z1 = a + 0.5;
	double		s1;
	double		s0;

	if (a < 50.0)
	{
		gsl_sf_result r1;
		gsl_sf_result r0;
		int			st1 = gsl_sf_lngamma_e(a + 0.5, &r1);
		int			st0 = gsl_sf_lngamma_e(a, &r0);

		if (st1 != GSL_SUCCESS || st0 != GSL_SUCCESS)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not evaluate the log-gamma function"),
					 errdetail("GSL failed for the argument %g.", a)));
		return r1.val - r0.val;
	}

	/* Stirling series; the omitted terms are below 1e-18 for a >= 50. */
	s1 = 1.0 / (12.0 * z1) - 1.0 / (360.0 * pow(z1, 3)) +
		1.0 / (1260.0 * pow(z1, 5)) - 1.0 / (1680.0 * pow(z1, 7));
	s0 = 1.0 / (12.0 * a) - 1.0 / (360.0 * pow(a, 3)) +
		1.0 / (1260.0 * pow(a, 5)) - 1.0 / (1680.0 * pow(a, 7));
	return (a * log1p(0.5 / a) - 0.5) + 0.5 * log(a) + (s1 - s0);
}

/*
 * Density of Student's t distribution, for the quadrature.
 */
static double
StatsTDensityAt(double s, void *params)
{
	StatsTDensity *d = (StatsTDensity *) params;

	return exp(d->log_norm - 0.5 * (d->df + 1.0) * log1p(s * s / d->df));
}

/*
 * P(T < -|t|) for Student's t distribution with df degrees of freedom.
 */
static double
StatsTdistLowerTail(double t, double df)
{
	double		a = df / 2.0;
	double		t2 = t * t;
	double		y = t2 / (df + t2);
	gsl_sf_result r;
	int			status;

	if (y < 1.5 / (a + 2.5))
	{
		/* Near the centre: 1/2 - I_y(1/2, df/2) / 2, no cancellation. */
		status = gsl_sf_beta_inc_e(0.5, a, y, &r);
		StatsCheckProb(r.val, status, "t distribution");
		return 0.5 - 0.5 * r.val;
	}
	if (df <= STATS_T_QUAD_DF)
	{
		status = gsl_sf_beta_inc_e(a, 0.5, df / (df + t2), &r);
		return 0.5 * StatsCheckProb(r.val, status, "t distribution");
	}
	else
	{
		StatsTDensity d;
		gsl_function f;
		gsl_integration_workspace *w;
		double		value;
		double		abserr;

		d.df = df;
		d.log_norm = StatsLogGammaHalfRatio(a) - 0.5 * log(df * M_PI);
		f.function = StatsTDensityAt;
		f.params = &d;
		w = gsl_integration_workspace_alloc(STATS_QUAD_LIMIT);
		if (w == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		status = gsl_integration_qagiu(&f, fabs(t), 0.0, 1e-13, STATS_QUAD_LIMIT,
									   w, &value, &abserr);
		gsl_integration_workspace_free(w);
		/* A round-off report still leaves a result good to ~1e-13. */
		if (status == GSL_EROUND)
			status = GSL_SUCCESS;
		return StatsCheckProb(value, status, "t distribution");
	}
}

/*
 * Lower tail of Student's t distribution, P(T <= t), as scipy's stdtr.
 */
double
StatsTdistCdf(double t, double df)
{
	double		tail;

	if (isnan(t) || isnan(df))
		return NAN;
	if (isinf(t))
		return t > 0 ? 1.0 : 0.0;
	if (!(df > 0.0))
		return NAN;
	if (t == 0.0)
		return 0.5;
	tail = StatsTdistLowerTail(t, df);
	return t < 0 ? tail : 1.0 - tail;
}

/*
 * Upper tail of the chi-square distribution, P(X > x).
 */
double
StatsChisqSf(double x, double df)
{
	if (isnan(x))
		return NAN;
	if (isinf(x))
		return 0.0;
	return StatsCheckProb(gsl_cdf_chisq_Q(x, df), GSL_SUCCESS, "chi-square distribution");
}

/*
 * The p-value of a standard normal statistic z for an alternative, as
 * statsmodels' _zstat_generic2 computes it.
 */
double
StatsNormalPValue(double z, StatsAlternative alternative)
{
	switch (alternative)
	{
		case STATS_LESS:
			return StatsNormalCdf(z);
		case STATS_GREATER:
			return StatsNormalSf(z);
		default:
			return StatsNormalSf(fabs(z)) * 2.0;
	}
}
