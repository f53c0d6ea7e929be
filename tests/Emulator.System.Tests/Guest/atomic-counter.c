/* Several processes add to one shared counter with LOCK XADD; prints the final count.
   On a correct SMP machine no update is lost: the count is processes * iterations. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int processes = argc > 1 ? atoi(argv[1]) : 4;
    long iterations = argc > 2 ? atol(argv[2]) : 100000;
    long *counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counter == MAP_FAILED)
        return 1;
    for (int p = 0; p < processes; p++) {
        if (fork() == 0) {
            long seen = 0;
            for (long i = 0; i < iterations; i++)
                seen += __atomic_fetch_add(counter, 1, __ATOMIC_SEQ_CST); /* uses the old value: LOCK XADD */
            _exit(seen < 0);
        }
    }
    while (wait(NULL) > 0)
        ;
    printf("%ld\n", *counter);
    return 0;
}
