/* fuzz_replay.h - with -DFUZZ_MAIN (no libFuzzer), a main() that runs the driver once on every
 * file named on the command line: CTest replays each seed corpus this way under the
 * sanitizers. Include it last in a driver. */
#ifndef FUZZ_REPLAY_H
#define FUZZ_REPLAY_H
#ifdef FUZZ_MAIN
#include <stdio.h>

int main(int argc, char **argv)
{
    static uint8_t buf[1 << 20];
    int ran = 0;
    for (int a = 1; a < argc; a++) {
        FILE *fp = fopen(argv[a], "rb");
        if (!fp) {
            fprintf(stderr, "cannot open %s\n", argv[a]);
            return 1;
        }
        size_t n = fread(buf, 1, sizeof(buf), fp);
        fclose(fp);
        LLVMFuzzerTestOneInput(buf, n);
        ran++;
    }
    printf("%d passed, 0 failed\n", ran);
    return ran ? 0 : 1;
}
#endif
#endif
