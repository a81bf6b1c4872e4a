// SPDX-License-Identifier: Apache-2.0
/*
 * testpki: the test PKI, made by running the openssl command through the shell (the tests
 * need real files, as the daemon reads them, not objects built in memory).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "testpki.h"

__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "failed: %s", cmd);
}

#define EC_KEY_ARGS "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

void testpki_make(struct testpki *p)
{
	if (system("command -v openssl >/dev/null 2>&1") != 0)
		cr_skip_test("the openssl command is not installed");
	snprintf(p->dir, sizeof(p->dir), "/tmp/lf-tls-XXXXXX");
	cr_assert_not_null(mkdtemp(p->dir));
	sh("cd %s && openssl req -x509 " EC_KEY_ARGS " -keyout ca.key -out ca.pem -days 2 "
	   "-subj '/CN=labelflow test CA' 2>/dev/null && "
	   "openssl req -x509 " EC_KEY_ARGS " -keyout other.key -out other.pem -days 2 "
	   "-subj '/CN=labelflow other CA' 2>/dev/null && "
	   "openssl req " EC_KEY_ARGS " -keyout server.key -out server.csr "
	   "-subj '/CN=labelflow test collector' 2>/dev/null && "
	   "echo 'subjectAltName=DNS:localhost,IP:127.0.0.1' >server.ext && "
	   "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 "
	   "-extfile server.ext -out server.pem 2>/dev/null && "
	   "openssl req " EC_KEY_ARGS " -keyout client.key -out client.csr "
	   "-subj '/CN=" TESTPKI_CLIENT_CN "' 2>/dev/null && "
	   "echo 'extendedKeyUsage=clientAuth' >client.ext && "
	   "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -set_serial 3 -days 2 "
	   "-extfile client.ext -out client.pem 2>/dev/null",
	   p->dir);
	snprintf(p->ca, sizeof(p->ca), "%s/ca.pem", p->dir);
	snprintf(p->other_ca, sizeof(p->other_ca), "%s/other.pem", p->dir);
	snprintf(p->server_crt, sizeof(p->server_crt), "%s/server.pem", p->dir);
	snprintf(p->server_key, sizeof(p->server_key), "%s/server.key", p->dir);
	snprintf(p->client_crt, sizeof(p->client_crt), "%s/client.pem", p->dir);
	snprintf(p->client_key, sizeof(p->client_key), "%s/client.key", p->dir);
}

void testpki_remove(struct testpki *p)
{
	if (p->dir[0])
		sh("rm -rf '%s'", p->dir);
	p->dir[0] = '\0';
}
