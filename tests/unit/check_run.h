/* check_run.h - how every unit suite ends: run it, report in Check's
 * usual lines, and exit non-zero when anything failed. */
#ifndef EVSTORE_CHECK_RUN_H
#define EVSTORE_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* Takes s. */
static inline int check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
