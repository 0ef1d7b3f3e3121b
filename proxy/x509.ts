// @peculiar/x509, ready to use: Node can verify certificates but not issue them, so everything that
// mints one (the test PKI in hack/, the Connectors Proxy's leaf certificates) loads the library
// through this module.
//
// The library resolves its algorithm providers through tsyringe, which needs the Reflect metadata
// API; `reflect-metadata` provides it and must be evaluated before the library, which is why it is
// imported first here (ES modules evaluate in import order).
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
