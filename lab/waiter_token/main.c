#include "kc_rv_cell.h"
int main(void) { return 0; }
