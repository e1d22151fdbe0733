#include <stdio.h>
int main(void)
{
	fprintf(stderr, "sdwanctl: not built yet\n");
	return 69;
}
