#ifndef CRL_VERSION_H
#define CRL_VERSION_H
#define CRL_VERSION "0.1"
#endif
