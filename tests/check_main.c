/* check_main.c - one runner for every Check suite; `check_dualgate NAME` runs one suite. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

int main(int argc, char **argv)
{
    SRunner *sr = NULL;
    for (int i = 0; dg_suites[i].name; i++) {
        if (argc > 1 && strcmp(argv[1], dg_suites[i].name) != 0)
            continue;
        if (!sr)
            sr = srunner_create(dg_suites[i].fn());
        else
            srunner_add_suite(sr, dg_suites[i].fn());
    }
    if (!sr) {
        fprintf(stderr, "no suite named %s\n", argc > 1 ? argv[1] : "(any)");
        return 2;
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
