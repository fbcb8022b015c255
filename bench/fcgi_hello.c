/* fcgi_hello.c - the smallest useful FastCGI responder: the yardstick the
 * /health/live benchmark is measured against (same nginx, same socket
 * kind, same number of processes, no evstore code). Serves on fd 0, as
 * spawn-fcgi hands it over. */
#include <fcgiapp.h>
#include <string.h>

int main(void)
{
	static const char reply[] =
		"Status: 200 OK\r\nContent-Type: application/json\r\n\r\n"
		"{\"alive\":true,\"reason\":\"ok\"}";
	FCGX_Request req;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&req, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&req) >= 0) {
		FCGX_PutStr(reply, (int)strlen(reply), req.out);
		FCGX_Finish_r(&req);
	}
	return 0;
}
