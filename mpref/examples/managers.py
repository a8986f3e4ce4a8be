"""The spec's custom managers and proxies program (16.6.4), in Python 3.

Run it with ``python -m mpref.examples.managers``.  A ``BaseManager``
subclass registers four typeids, each showing one way to decide what a proxy
offers:

* ``Foo1`` -- a class; its proxy exposes the public methods (``f``, ``g``);
* ``Foo2`` -- the same class with an explicit ``exposed`` list (``g``, ``_h``);
* ``baz`` -- a generator function, served through a hand-written
  ``GeneratorProxy`` whose ``__next__`` is a call in the server;
* ``operator`` -- a callable returning a *module*: its public functions become
  the proxy's methods.

``Foo``'s methods print in the manager's server process, which shares this
script's standard output.  Spec sections 16.6.2.7 (managers) and 16.6.2.8
(proxies); chapter ``notebooks/12_examples.ipynb``.
"""

import operator
import sys

from mpref.managers import BaseManager, BaseProxy


class Foo:
    """The spec's custom-manager program: two public methods and a private one.

    Each method prints in the *server* process (and flushes, so that a script
    whose whole output is captured shows the lines in call order).
    """

    def f(self):
        print('you called Foo.f()', flush=True)

    def g(self):
        print('you called Foo.g()', flush=True)

    def _h(self):
        print('you called Foo._h()', flush=True)


def baz():
    """A simple generator: the squares of 0..9, served through a proxy."""
    for i in range(10):
        yield i * i


def get_operator_module():
    """Return the ``operator`` module: a referent that is a module."""
    return operator


# --------------------------------------------------------------------------
# The spec's custom-manager program (16.6.4), in Python 3
# --------------------------------------------------------------------------

class GeneratorProxy(BaseProxy):
    """A proxy for a generator: iterating it calls ``__next__`` in the server."""

    _exposed_ = ('__next__',)

    def __iter__(self):
        return self

    def __next__(self):
        return self._callmethod('__next__')


class MyManager(BaseManager):
    """The program's manager: four registrations, four kinds of proxy."""


MyManager.register('Foo1', Foo)                            # public methods: f, g
MyManager.register('Foo2', Foo, exposed=('g', '_h'))       # an explicit list
MyManager.register('baz', baz, proxytype=GeneratorProxy)   # a hand-written proxy
MyManager.register('operator', get_operator_module)        # a module as referent


def custom_manager_program():
    """The spec's ``test()``.  Python 3 has no ``operator.getslice``/``repeat``:
    ``getitem`` with a slice and ``mul`` on a list do their work."""
    manager = MyManager()
    manager.start()
    print('-' * 20)
    f1 = manager.Foo1()
    f1.f()
    f1.g()
    assert not hasattr(f1, '_h')
    assert sorted(f1._exposed_) == sorted(['f', 'g'])
    print('-' * 20)
    f2 = manager.Foo2()
    f2.g()
    f2._h()
    assert not hasattr(f2, 'f')
    assert sorted(f2._exposed_) == sorted(['g', '_h'])
    print('-' * 20)
    print(' '.join('<%d>' % i for i in manager.baz()))
    print('-' * 20)
    op = manager.operator()
    print('op.add(23, 45) =', op.add(23, 45))
    print('op.pow(2, 94) =', op.pow(2, 94))
    print('op.getitem(list(range(10)), slice(2, 6)) =',
          op.getitem(list(range(10)), slice(2, 6)))
    print('op.mul(list(range(5)), 3) =', op.mul(list(range(5)), 3))
    print('some of op._exposed_ =',
          [name for name in op._exposed_ if name in ('add', 'getitem', 'mul', 'pow')])
    manager.shutdown()


if __name__ == '__main__':
    if sys.argv[1:]:
        print('usage: python -m mpref.examples.managers   (no arguments)', file=sys.stderr)
        sys.exit(2)
    custom_manager_program()
