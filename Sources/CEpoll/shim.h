// Linux's epoll(7), which the Glibc module leaves out; imported only on Linux.
#include <sys/epoll.h>
