/*
 * embedder.c - the vector helpers both embedders share. See embedder.h.
 */
#include "common.h"
#include "kb/embedder.h"

#include <math.h>

void embed_normalize(float *v, int dim)
{
	double ss = 0;
	for (int i = 0; i < dim; i++)
		ss += (double)v[i] * v[i];
	if (ss <= 0)
		return;
	float inv = (float)(1.0 / sqrt(ss));
	for (int i = 0; i < dim; i++)
		v[i] *= inv;
}

float embed_dot(const float *a, const float *b, int dim)
{
	float s = 0;
	for (int i = 0; i < dim; i++)
		s += a[i] * b[i];
	return s;
}
