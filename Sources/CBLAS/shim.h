#include <cblas.h>
/* OpenBLAS's own thread control and build identity; declared in OpenBLAS's cblas.h and
   openblas_config.h, repeated here so the shim does not depend on where Debian puts those
   headers (or on the cblas.h alternative being OpenBLAS's). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
/* The kernel family DYNAMIC_ARCH picked at load time ("Zen", "Haswell", "Prescott", ...). */
char* openblas_get_corename(void);
/* "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64". */
char* openblas_get_config(void);
