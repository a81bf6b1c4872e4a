/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testpki: a throw-away PKI for unit tests, made with the openssl command in a fresh
 * directory under /tmp: a test CA, a server certificate for localhost and 127.0.0.1 issued by
 * it, a client certificate (CN "labelflow-client", clientAuth) issued by it, and a second,
 * unrelated CA. EC P-256 keys, unencrypted, valid for two days.
 */
#ifndef LABELFLOW_TESTS_TESTPKI_H
#define LABELFLOW_TESTS_TESTPKI_H

#define TESTPKI_CLIENT_CN "labelflow-client"

struct testpki {
	char dir[64];	      /* the directory holding every file below */
	char ca[128];	      /* PEM: the CA that issued the server and client certificates */
	char other_ca[128];   /* PEM: a CA that issued nothing here */
	char server_crt[128]; /* SAN DNS:localhost, IP:127.0.0.1 */
	char server_key[128];
	char client_crt[128]; /* CN TESTPKI_CLIENT_CN */
	char client_key[128];
};

/*
 * Make the files. Skips the calling test (cr_skip_test) when the openssl command is not
 * installed; fails it when a step fails. Blocks for the few openssl runs.
 */
void testpki_make(struct testpki *p);
/* Remove the directory and everything in it. */
void testpki_remove(struct testpki *p);

#endif
