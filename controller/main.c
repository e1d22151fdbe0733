#include <stdio.h>
int main(void)
{
	fprintf(stderr, "sdwan-controller: not built yet\n");
	return 69;
}
